// Data-parallel Grad Queue (docs/GRADQUEUE.md §10): every rank clusters the whole global batch
// (the same k-means on the same B points); these two kernels turn the global clustering into this
// rank's share, and rescale this rank's per-cluster rows so that their sum over the ranks is the
// one-process g_c.
#pragma once

#include <cstddef>

#include "kernels/clustering.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace gq::train {

// global: the clustering of the B = ranks * local.b samples of the global batch (k <= 64).
// local (device arrays of local.b, k + 1 and k ints, local.k == global.k): the members of each
// cluster among positions [first, first + local.b), renumbered from 0, in ascending order.
// factors[c] = ranks * n_c^local / n_c (0 for an empty cluster): a rank's per-cluster mean over
// its n_c^local members, taken from dy of the global mean loss (1/B) and scaled by its local batch
// (models/per_cluster.h), times this factor, is its share of the global mean g_c.
void shard_clustering(const kernels::Clustering& global, int first, int ranks,
                      const kernels::Clustering& local, float* factors, stream_t stream);

// rows(c, j) *= factors[c] for the columns [0, rows.cols) of every row c.
void scale_rows(MatrixView rows, const float* factors, stream_t stream);

}  // namespace gq::train
