// GPU build only: out[i] = to_float(to_bf16(in[i])), fp32 values rounded to the nearest bf16
// (runtime/bf16.h). dnn::Conv2d's bf16 passes run cuDNN on such copies of their inputs.
#pragma once

#include <cstddef>

#include "runtime/stream.h"

namespace gq::dnn::detail {

void round_through_bf16(const float* in, float* out, std::size_t n, stream_t stream);

}  // namespace gq::dnn::detail
