// Batched matrix transpose on the device: out[b][j][i] = in[b][i][j].
#pragma once

#include "runtime/stream.h"

namespace gq::kernels {

// in: batch x rows x cols (row-major), out: batch x cols x rows. in and out must not overlap.
void transpose(const float* in, float* out, int rows, int cols, int batch = 1,
               stream_t stream = nullptr);

}  // namespace gq::kernels
