// Per-sample Conv2d weight and bias gradients (kernels/per_sample.h) in double on the host: the
// per-sample and per-cluster kernel cases' reference and tests/kernels/test_per_sample.cpp's.
#pragma once

#include <vector>

#include "kernels/cases/kernel_case.h"
#include "runtime/dnn.h"

namespace gq::cases {

struct PerSampleGrads {
  std::vector<double> gw;        // [n, k, c, r, s]: sum over positions of dy_i x_i(patch)
  std::vector<double> gb;        // [n, k]: dy_i summed over positions
  std::vector<double> gw_scale;  // gw's sums of |terms|
  std::vector<double> gb_scale;  // gb's
};

// A conv case's size [n, c, h, w, kout, filter, stride, pad, ...]: a square filter, the same
// stride and padding both ways.
dnn::Conv2dShape conv_shape_of(const Dims& d);

// x NCHW [s.n, s.c, s.h, s.w] (zero outside: the padding), dy [s.n, s.k, out_h, out_w].
PerSampleGrads conv_per_sample_reference(const dnn::Conv2dShape& s, const std::vector<float>& x,
                                         const std::vector<float>& dy);

}  // namespace gq::cases
