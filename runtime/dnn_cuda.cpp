// gq::dnn on the GPU: cuDNN 9 through its legacy convolution API (cudnn_cnn). Everything is
// planned at construction: descriptors, one algorithm per pass (cuDNN's heuristics filtered to
// deterministic, FMA-only kernels), and one device workspace sized for the largest of the three.
//
// Precision::bf16: each pass first rounds its two inputs to bf16 values (runtime/dnn_round.h)
// into plan-owned fp32 buffers, then runs cuDNN on them with CUDNN_TENSOR_OP_MATH. For fp32 data
// the tensor cores compute in TF32, whose 10-bit mantissa holds a bf16 value (7 bits) exactly:
// the products are exactly the bf16 products, accumulated in fp32, and the output stays fp32, as
// on the CPU. cuDNN's legacy API has no bf16-input, fp32-output configuration
// (PSEUDO_BFLOAT16_CONFIG writes y in bf16); with bf16 storage (a later step of issue 26) the
// inputs are bf16 already and the passes switch to CUDNN_DATA_BFLOAT16, at twice TF32's rate.
#include <cudnn.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include <fmt/format.h>

#include "runtime/cuda_check.h"
#include "runtime/device.h"
#include "runtime/dnn.h"
#include "runtime/dnn_round.h"
#include "runtime/memory.h"

namespace gq::dnn {

namespace {

// Largest workspace an algorithm may ask for; faster algorithms needing more are skipped.
constexpr std::size_t kMaxWorkspace = std::size_t{512} << 20;

// One cuDNN handle per host thread, created on first use, bound to the caller's stream per call.
class Handle {
 public:
  Handle() {
    (void)device_info();  // without a GPU: the "no CUDA device" error, not cuDNN's status
    GQ_CUDNN_CHECK(cudnnCreate(&handle_));
  }
  ~Handle() {
    // At process exit the CUDA context may already be gone; nothing useful to do on failure.
    if (handle_ != nullptr) (void)cudnnDestroy(handle_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  cudnnHandle_t get() const { return handle_; }

 private:
  cudnnHandle_t handle_ = nullptr;
};

cudnnHandle_t thread_handle() {
  thread_local Handle handle;
  return handle.get();
}

cudnnHandle_t handle_for(stream_t stream) {
  cudnnHandle_t h = thread_handle();
  GQ_CUDNN_CHECK(cudnnSetStream(h, stream));
  return h;
}

// Picks the first (fastest by cuDNN's heuristic) result that is supported, deterministic, fits
// the workspace cap and, in fp32, does not use tensor-core math (the descriptor is
// CUDNN_FMA_MATH, so none should); `fallback` otherwise. In bf16 tensor-op math is the point;
// ALLOW_CONVERSION (down-conversion to fp16) is never taken.
template <class Perf, class Algo>
Perf pick(const Perf* perf, int count, Algo fallback, std::size_t fallback_bytes,
          bool tensor_ops) {
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    const bool math_ok = p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
                         (tensor_ops || p.mathType != CUDNN_TENSOR_OP_MATH);
    if (p.status == CUDNN_STATUS_SUCCESS && p.determinism == CUDNN_DETERMINISTIC && math_ok &&
        p.memory <= kMaxWorkspace) {
      return p;
    }
  }
  Perf p{};
  p.algo = fallback;
  p.status = CUDNN_STATUS_SUCCESS;
  p.memory = fallback_bytes;
  p.determinism = CUDNN_DETERMINISTIC;
  p.mathType = tensor_ops ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  return p;
}

}  // namespace

std::string library_version() {
  // cuDNN 9 numbers its versions 10000 * major + 100 * minor + patch (CUDNN_VERSION's formula).
  const std::size_t version = cudnnGetVersion();
  return fmt::format("cuDNN {}.{}.{} (built with {}.{}.{})", version / 10000, version % 10000 / 100,
                     version % 100, CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);
}

struct Conv2d::Impl {
  Conv2dShape shape;
  Precision precision;
  bool bf16;  // precision == bf16: inputs rounded into the buffers below, tensor-op math
  cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr;
  cudnnFilterDescriptor_t w_desc = nullptr;
  cudnnConvolutionDescriptor_t conv_desc = nullptr;
  cudnnConvolutionFwdAlgo_t fwd_algo{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo{};
  DeviceBuffer<unsigned char> workspace;
  DeviceBuffer<float> x_round, w_round, y_round;  // bf16: each pass's inputs rounded to bf16
  std::string implementation;

  Impl(const Conv2dShape& s, Precision p) : shape(s), precision(p), bf16(p == Precision::bf16) {
    try {
      plan();
      if (bf16) {
        x_round = DeviceBuffer<float>(s.x_elems());
        w_round = DeviceBuffer<float>(s.w_elems());
        y_round = DeviceBuffer<float>(s.y_elems());
      }
      implementation = fmt::format("cuDNN algorithms forward {}, backward data {}, backward filter "
                                   "{}, {} math",
                                   static_cast<int>(fwd_algo), static_cast<int>(bwd_data_algo),
                                   static_cast<int>(bwd_filter_algo),
                                   bf16 ? "tensor-op (TF32 on bf16 values)" : "FMA");
    } catch (...) {
      destroy();
      throw;
    }
  }
  ~Impl() { destroy(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void destroy() noexcept {
    if (conv_desc) (void)cudnnDestroyConvolutionDescriptor(conv_desc);
    if (w_desc) (void)cudnnDestroyFilterDescriptor(w_desc);
    if (y_desc) (void)cudnnDestroyTensorDescriptor(y_desc);
    if (x_desc) (void)cudnnDestroyTensorDescriptor(x_desc);
    conv_desc = nullptr;
    w_desc = nullptr;
    x_desc = y_desc = nullptr;
  }

  void plan() {
    describe();
    choose_algorithms();
  }

  // The tensor, filter and convolution descriptors (the math type in the precision's).
  void describe() {
    const Conv2dShape& s = shape;
    GQ_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc));
    GQ_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc));
    GQ_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_desc));
    GQ_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_desc));
    GQ_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.c,
                                              s.h, s.w));
    GQ_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s.k, s.c,
                                              s.r, s.s));
    GQ_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_desc, s.pad_h, s.pad_w, s.stride_h,
                                                   s.stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                   CUDNN_DATA_FLOAT));
    // CUDNN_FMA_MATH, not CUDNN_DEFAULT_MATH: for float data cuDNN's default permits TF32 tensor
    // cores on A100 and later (10-bit mantissa products). FMA math keeps full fp32 products. In
    // bf16 the inputs are bf16 values, exact in TF32: tensor-op math changes no product.
    GQ_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc,
                                               bf16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
    int on = 0, oc = 0, oh = 0, ow = 0;
    GQ_CUDNN_CHECK(
        cudnnGetConvolution2dForwardOutputDim(conv_desc, x_desc, w_desc, &on, &oc, &oh, &ow));
    GQ_CHECK(on == s.n && oc == s.k && oh == s.out_h() && ow == s.out_w(),
             "dnn::Conv2d: cuDNN output {}x{}x{}x{} differs from the shape's {}x{}x{}x{}", on, oc,
             oh, ow, s.n, s.k, s.out_h(), s.out_w());
    GQ_CUDNN_CHECK(
        cudnnSetTensor4dDescriptor(y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, s.n, s.k, oh, ow));
  }

  // One algorithm per pass, and the workspace for the largest.
  void choose_algorithms() {
    cudnnHandle_t h = thread_handle();
    std::size_t bytes = 0, ws = 0;
    {
      std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
      int count = 0;
      GQ_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, x_desc, w_desc, conv_desc, y_desc,
                                                            static_cast<int>(perf.size()), &count,
                                                            perf.data()));
      const auto fb = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
      GQ_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, x_desc, w_desc, conv_desc, y_desc,
                                                             fb, &bytes));
      const auto p = pick(perf.data(), count, fb, bytes, bf16);
      fwd_algo = p.algo;
      ws = std::max(ws, p.memory);
    }
    {
      std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perf{};
      int count = 0;
      GQ_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
          h, w_desc, y_desc, conv_desc, x_desc, static_cast<int>(perf.size()), &count,
          perf.data()));
      const auto fb = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;  // deterministic
      GQ_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, w_desc, y_desc, conv_desc,
                                                                  x_desc, fb, &bytes));
      const auto p = pick(perf.data(), count, fb, bytes, bf16);
      bwd_data_algo = p.algo;
      ws = std::max(ws, p.memory);
    }
    {
      std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>
          perf{};
      int count = 0;
      GQ_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
          h, x_desc, y_desc, conv_desc, w_desc, static_cast<int>(perf.size()), &count,
          perf.data()));
      const auto fb = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;  // deterministic
      GQ_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x_desc, y_desc, conv_desc,
                                                                    w_desc, fb, &bytes));
      const auto p = pick(perf.data(), count, fb, bytes, bf16);
      bwd_filter_algo = p.algo;
      ws = std::max(ws, p.memory);
    }
    // The heuristics' memory estimates are re-queried exactly for the chosen algorithms.
    GQ_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, x_desc, w_desc, conv_desc, y_desc,
                                                           fwd_algo, &bytes));
    ws = std::max(ws, bytes);
    GQ_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, w_desc, y_desc, conv_desc,
                                                                x_desc, bwd_data_algo, &bytes));
    ws = std::max(ws, bytes);
    GQ_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x_desc, y_desc, conv_desc,
                                                                  w_desc, bwd_filter_algo, &bytes));
    ws = std::max(ws, bytes);
    workspace = DeviceBuffer<unsigned char>(ws);
  }
};

Conv2d::Conv2d(const Conv2dShape& shape, Precision precision)
    : shape_(shape), precision_(precision) {
  check_shape(shape);
  impl_ = std::make_unique<Impl>(shape, precision);
  implementation_ = impl_->implementation;
  implementation_names_ = {implementation_};
}

Conv2d::~Conv2d() = default;
Conv2d::Conv2d(Conv2d&&) noexcept = default;
Conv2d& Conv2d::operator=(Conv2d&&) noexcept = default;

std::size_t Conv2d::workspace_bytes() const {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  const Impl& p = *impl_;
  return p.workspace.bytes() + p.x_round.bytes() + p.w_round.bytes() + p.y_round.bytes();
}

namespace {
// In bf16 a pass reads `in` rounded to bf16 values, from `buffer`; in fp32 `in` itself.
const float* rounded(bool bf16, const float* in, DeviceBuffer<float>& buffer, stream_t stream) {
  if (!bf16) return in;
  detail::round_through_bf16(in, buffer.data(), buffer.size(), stream);
  return buffer.data();
}
}  // namespace

void Conv2d::forward(const float* x, const float* w, float* y, stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  GQ_CHECK(x && w && y, "dnn::Conv2d::forward: null pointer (x={}, w={}, y={})",
           static_cast<const void*>(x), static_cast<const void*>(w), static_cast<void*>(y));
  Impl& p = *impl_;
  const float one = 1.0f, zero = 0.0f;
  x = rounded(p.bf16, x, p.x_round, stream);
  w = rounded(p.bf16, w, p.w_round, stream);
  GQ_CUDNN_CHECK(cudnnConvolutionForward(handle_for(stream), &one, p.x_desc, x, p.w_desc, w,
                                         p.conv_desc, p.fwd_algo, p.workspace.data(),
                                         p.workspace.bytes(), &zero, p.y_desc, y));
}

void Conv2d::backward_data(const float* dy, const float* w, float* dx, stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  GQ_CHECK(dy && w && dx, "dnn::Conv2d::backward_data: null pointer (dy={}, w={}, dx={})",
           static_cast<const void*>(dy), static_cast<const void*>(w), static_cast<void*>(dx));
  Impl& p = *impl_;
  const float one = 1.0f, zero = 0.0f;
  dy = rounded(p.bf16, dy, p.y_round, stream);
  w = rounded(p.bf16, w, p.w_round, stream);
  GQ_CUDNN_CHECK(cudnnConvolutionBackwardData(handle_for(stream), &one, p.w_desc, w, p.y_desc, dy,
                                              p.conv_desc, p.bwd_data_algo, p.workspace.data(),
                                              p.workspace.bytes(), &zero, p.x_desc, dx));
}

void Conv2d::backward_filter(const float* x, const float* dy, float* dw, bool accumulate,
                             stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  GQ_CHECK(x && dy && dw, "dnn::Conv2d::backward_filter: null pointer (x={}, dy={}, dw={})",
           static_cast<const void*>(x), static_cast<const void*>(dy), static_cast<void*>(dw));
  Impl& p = *impl_;
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  x = rounded(p.bf16, x, p.x_round, stream);
  dy = rounded(p.bf16, dy, p.y_round, stream);
  GQ_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle_for(stream), &one, p.x_desc, x, p.y_desc, dy,
                                                p.conv_desc, p.bwd_filter_algo, p.workspace.data(),
                                                p.workspace.bytes(), &beta, p.w_desc, dw));
}

// bf16 activations: not on the GPU yet (cuDNN's bf16 configuration writes y in bf16 through its
// own conversion; it comes with a lent GPU to test it on). bf16_activations() says so, and the
// layers then widen around the float passes (models/sequential_bf16.cpp), as on the CPU for the
// layers without bf16 passes.
bool Conv2d::bf16_activations() const {
  return false;
}
void Conv2d::forward(const bf16*, const float*, bf16*, stream_t) {
  GQ_FAIL("dnn::Conv2d: bf16 activations are not implemented on the GPU (bf16_activations())");
}
void Conv2d::backward_data(const bf16*, const float*, bf16*, stream_t) {
  GQ_FAIL("dnn::Conv2d: bf16 activations are not implemented on the GPU (bf16_activations())");
}
void Conv2d::backward_filter(const bf16*, const bf16*, float*, bool, stream_t) {
  GQ_FAIL("dnn::Conv2d: bf16 activations are not implemented on the GPU (bf16_activations())");
}

}  // namespace gq::dnn
