// Naive double-precision references of the three convolution passes (NCHW / KCRS), with the
// magnitude sums that bound fp32 rounding: shared by the fp32 and bf16 tests of dnn::Conv2d.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "runtime/dnn.h"

namespace gq::conv_reference {

using dnn::Conv2dShape;

// Index helpers (NCHW / KCRS).
struct Idx {
  const Conv2dShape& s;
  std::size_t x(int n, int c, int h, int w) const {
    return ((static_cast<std::size_t>(n) * s.c + c) * s.h + h) * s.w + w;
  }
  std::size_t wt(int k, int c, int r, int q) const {
    return ((static_cast<std::size_t>(k) * s.c + c) * s.r + r) * s.s + q;
  }
  std::size_t y(int n, int k, int p, int q) const {
    return ((static_cast<std::size_t>(n) * s.k + k) * s.out_h() + p) * s.out_w() + q;
  }
};

// Visits every (x index, w index, y index) triple that contributes x * w to y.
template <class F>
void for_each_tap(const Conv2dShape& s, F&& f) {
  const Idx ix{s};
  for (int n = 0; n < s.n; ++n)
    for (int k = 0; k < s.k; ++k)
      for (int p = 0; p < s.out_h(); ++p)
        for (int q = 0; q < s.out_w(); ++q)
          for (int c = 0; c < s.c; ++c)
            for (int r = 0; r < s.r; ++r) {
              const int hi = p * s.stride_h - s.pad_h + r;
              if (hi < 0 || hi >= s.h) continue;
              for (int t = 0; t < s.s; ++t) {
                const int wi = q * s.stride_w - s.pad_w + t;
                if (wi < 0 || wi >= s.w) continue;
                f(ix.x(n, c, hi, wi), ix.wt(k, c, r, t), ix.y(n, k, p, q));
              }
            }
}

// Reference values with the magnitude sums that bound fp32 rounding.
struct Ref {
  std::vector<double> val, mag;
  explicit Ref(std::size_t n) : val(n, 0.0), mag(n, 0.0) {}
};

inline Ref ref_forward(const Conv2dShape& s, const std::vector<float>& x, const std::vector<float>& w) {
  Ref y(s.y_elems());
  for_each_tap(s, [&](std::size_t xi, std::size_t wi, std::size_t yi) {
    const double v = static_cast<double>(x[xi]) * w[wi];
    y.val[yi] += v;
    y.mag[yi] += std::fabs(v);
  });
  return y;
}

inline Ref ref_backward_data(const Conv2dShape& s, const std::vector<float>& dy,
                      const std::vector<float>& w) {
  Ref dx(s.x_elems());
  for_each_tap(s, [&](std::size_t xi, std::size_t wi, std::size_t yi) {
    const double v = static_cast<double>(dy[yi]) * w[wi];
    dx.val[xi] += v;
    dx.mag[xi] += std::fabs(v);
  });
  return dx;
}

inline Ref ref_backward_filter(const Conv2dShape& s, const std::vector<float>& x,
                        const std::vector<float>& dy) {
  Ref dw(s.w_elems());
  for_each_tap(s, [&](std::size_t xi, std::size_t wi, std::size_t yi) {
    const double v = static_cast<double>(x[xi]) * dy[yi];
    dw.val[wi] += v;
    dw.mag[wi] += std::fabs(v);
  });
  return dw;
}

}  // namespace gq::conv_reference
