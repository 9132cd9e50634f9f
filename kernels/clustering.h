// A batch grouped by cluster (docs/GRADQUEUE.md §5): what kmeans() writes, and what the
// per-cluster gradients (kernels/per_cluster_grad.h) and scarcity_combine (kernels/scarcity.h)
// read. A view of device memory the caller owns, passed by value.
#pragma once

namespace gq::kernels {

struct Clustering {
  int* order = nullptr;    // b sample indices grouped by cluster: cluster c is
                           // order[offsets[c] .. offsets[c+1])
  int* offsets = nullptr;  // k + 1, non-decreasing, offsets[0] = 0, offsets[k] = b
  int* sizes = nullptr;    // k: n_c = offsets[c+1] - offsets[c]
  int k = 0, b = 0;
};

}  // namespace gq::kernels
