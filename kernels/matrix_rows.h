// Maps over every row of a strided matrix (MatrixView: rows of `cols` floats, `ld` apart) in one
// launch, for per-cluster work that would otherwise launch once per row: a layer's k rows of the
// per-cluster gradient matrix are scaled, or filled with the batch gradient, by one launch
// whatever k is (docs/PERF.md "Launches per step").
#pragma once

#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace gq::kernels {

// m[r][c] *= alpha for every r < m.rows, c < m.cols (the same float multiply as kernels::scale
// on each row). Columns c >= cols of a strided row are not touched.
void scale_rows(MatrixView m, float alpha, stream_t stream = nullptr);

// m[r][c] = row[c] for every r < m.rows, c < m.cols. row must not overlap m.
void broadcast_row(const float* row, MatrixView m, stream_t stream = nullptr);

}  // namespace gq::kernels
