// Deep-learning primitives on device memory: planned 2-D convolution.
// GPU build: cuDNN 9 (legacy convolution API, deterministic algorithms, default fp32 math, no
// TF32). Emulator build: oneDNN 2.6 CPU primitives on the (host) pointers.
// Precision::bf16 (mixed precision): each pass rounds its two inputs to bf16 and accumulates in
// fp32; the activations are float or (bf16 activation storage, on the CPU) bf16 in memory.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "runtime/bf16.h"
#include "runtime/error.h"
#include "runtime/precision.h"
#include "runtime/stream.h"

namespace gq::dnn {

// The library behind Conv2d and its version, as loaded and as built against, e.g. "cuDNN 9.13.0
// (built with 9.13.0)"; the emulator build: "emulator: oneDNN 2.6.3".
std::string library_version();

// A 2-D convolution (cross-correlation, as cuDNN/oneDNN/PyTorch define it):
//   x [n, c, h, w] (NCHW), weights [k, c, r, s] (KCRS), y [n, k, out_h, out_w].
struct Conv2dShape {
  int n, c, h, w;  // batch, input channels, input height, input width
  int k, r, s;     // output channels, filter height, filter width
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;

  int out_h() const { return (h + 2 * pad_h - r) / stride_h + 1; }
  int out_w() const { return (w + 2 * pad_w - s) / stride_w + 1; }
  // Multiply-adds x 2 of one forward pass (backward data and backward filter cost the same).
  double flops_forward() const {
    return 2.0 * n * k * out_h() * out_w() * static_cast<double>(c) * r * s;
  }
  std::size_t x_elems() const { return static_cast<std::size_t>(n) * c * h * w; }
  std::size_t w_elems() const { return static_cast<std::size_t>(k) * c * r * s; }
  std::size_t y_elems() const { return static_cast<std::size_t>(n) * k * out_h() * out_w(); }
};

// Throws gq::Error naming the bad value when the shape is invalid (non-positive dims or strides,
// negative padding, a filter larger than the padded input, or an empty output).
inline void check_shape(const Conv2dShape& s) {
  GQ_CHECK(s.n > 0 && s.c > 0 && s.h > 0 && s.w > 0,
           "dnn::Conv2d: input dims must be positive, got n={} c={} h={} w={}", s.n, s.c, s.h, s.w);
  GQ_CHECK(s.k > 0 && s.r > 0 && s.s > 0,
           "dnn::Conv2d: filter dims must be positive, got k={} r={} s={}", s.k, s.r, s.s);
  GQ_CHECK(s.stride_h > 0 && s.stride_w > 0,
           "dnn::Conv2d: strides must be positive, got stride_h={} stride_w={}", s.stride_h,
           s.stride_w);
  GQ_CHECK(s.pad_h >= 0 && s.pad_w >= 0,
           "dnn::Conv2d: padding must be non-negative, got pad_h={} pad_w={}", s.pad_h, s.pad_w);
  GQ_CHECK(s.h + 2 * s.pad_h >= s.r && s.w + 2 * s.pad_w >= s.s,
           "dnn::Conv2d: output size must be positive: a {}x{} filter does not fit the padded "
           "{}x{} input (h={} pad_h={}, w={} pad_w={})",
           s.r, s.s, s.h + 2 * s.pad_h, s.w + 2 * s.pad_w, s.h, s.pad_h, s.w, s.pad_w);
  GQ_CHECK(s.pad_h < s.r && s.pad_w < s.s,
           "dnn::Conv2d: padding must be smaller than the filter (pad_h={} r={}, pad_w={} s={})",
           s.pad_h, s.r, s.pad_w, s.s);
}

// A planned convolution for one shape: all descriptors / primitives / algorithms / workspace are
// chosen and allocated at construction; the calls allocate nothing (training steps must not
// allocate). Tensors NCHW, weights KCRS, float32, device pointers. No bias (a separate kernel).
// Results are bit-identical run to run on a given device (and, on the CPU, a given thread count).
// A plan is not thread-safe: one thread (or stream order) at a time per plan.
class Conv2d {
 public:
  explicit Conv2d(const Conv2dShape& shape, Precision precision = Precision::fp32);
  ~Conv2d();
  Conv2d(Conv2d&&) noexcept;
  Conv2d& operator=(Conv2d&&) noexcept;
  Conv2d(const Conv2d&) = delete;
  Conv2d& operator=(const Conv2d&) = delete;

  const Conv2dShape& shape() const { return shape_; }
  Precision precision() const { return precision_; }
  // What the library runs for each pass, e.g. "forward jit_bf16:avx512_core_bf16, backward data
  // ..., backward filter ..." (oneDNN's implementation names; cuDNN's algorithm numbers).
  const std::string& implementation() const { return implementation_; }
  // The distinct names in it (oneDNN's per pass, "jit_bf16:avx512_core_bf16"; cuDNN's one line):
  // what a run's start-up line lists (models::LibraryChoices).
  const std::vector<std::string>& implementation_names() const { return implementation_names_; }

  // y = conv(x, w).
  void forward(const float* x, const float* w, float* y, stream_t stream = nullptr);
  // dx = gradient of the loss w.r.t. x, given dy (overwrites dx).
  void backward_data(const float* dy, const float* w, float* dx, stream_t stream = nullptr);
  // dw = gradient w.r.t. the weights (beta = 0), or dw += gradient when accumulate is true.
  void backward_filter(const float* x, const float* dy, float* dw, bool accumulate = false,
                       stream_t stream = nullptr);

  // The same passes over activations stored in bf16 (x, y, dy, dx; weights and dw stay float),
  // where bf16_activations(): on the CPU in a bf16 plan, whose library rounds the fp32 results
  // to bf16 (to nearest even, as gq::to_bf16 does, except that subnormal results become zero and
  // a NaN keeps its payload); not yet on the GPU.
  bool bf16_activations() const;
  void forward(const bf16* x, const float* w, bf16* y, stream_t stream = nullptr);
  void backward_data(const bf16* dy, const float* w, bf16* dx, stream_t stream = nullptr);
  void backward_filter(const bf16* x, const bf16* dy, float* dw, bool accumulate = false,
                       stream_t stream = nullptr);

  // Device (GPU) or host (CPU) scratch memory this plan owns, in bytes.
  std::size_t workspace_bytes() const;

 private:
  struct Impl;  // the library's plan: dnn_cpu.cpp (oneDNN) or dnn_cuda.cpp (cuDNN)
  // The passes over either storage (dnn_cpu.cpp).
  template <class T>
  void run_forward(const T* x, const float* w, T* y, stream_t stream);
  template <class T>
  void run_backward_data(const T* dy, const float* w, T* dx, stream_t stream);
  template <class T>
  void run_backward_filter(const T* x, const T* dy, float* dw, bool accumulate, stream_t stream);

  std::unique_ptr<Impl> impl_;
  Conv2dShape shape_;
  Precision precision_;
  std::string implementation_;  // what the plan chose, set once by the constructor
  std::vector<std::string> implementation_names_;
};

}  // namespace gq::dnn
