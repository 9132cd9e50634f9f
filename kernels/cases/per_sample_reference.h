// Per-sample Conv2d weight and bias gradients (kernels/per_sample.h) in double on the host: the
// per-sample kernel cases' reference and tests/kernels/test_per_sample.cpp's (per-cluster means
// against sums of per-sample gradients).
#pragma once

#include <vector>

#include "runtime/dnn.h"

namespace gq::cases {

struct PerSampleGrads {
  std::vector<double> gw;        // [n, k, c, r, s]: sum over positions of dy_i x_i(patch)
  std::vector<double> gb;        // [n, k]: dy_i summed over positions
  std::vector<double> gw_scale;  // gw's sums of |terms|
  std::vector<double> gb_scale;  // gb's
};

// x NCHW [s.n, s.c, s.h, s.w] (zero outside: the padding), dy [s.n, s.k, out_h, out_w].
PerSampleGrads conv_per_sample_reference(const dnn::Conv2dShape& s, const std::vector<float>& x,
                                         const std::vector<float>& dy);

}  // namespace gq::cases
