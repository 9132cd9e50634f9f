// Pointwise activations (relu, exact-erf gelu) and their backward passes, over activations stored
// as float or bf16 (T): each element is loaded, computed in float and rounded once when stored.
// Launch shape: kBlock threads per block, grid from grid_stride_blocks(n), each thread looping
// over its grid_range share. Memory traffic per element: forward 2 sizeof(T) (read x, write y),
// backward 3 sizeof(T) (read x and dy, write dx), so 8 / 12 bytes in float and 4 / 6 in bf16;
// bandwidth-bound. Outputs may alias their matching input.
#include "kernels/activation.h"

#include "runtime/bf16.h"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;
constexpr float kSqrtHalf = 0.70710678118654752f;    // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143268f;  // 1 / sqrt(2 pi)

struct Relu {
  __device__ static float forward(float x) { return x < 0.0f ? 0.0f : x; }
  // A select, not dy * 0: a non-finite dy at an inactive unit gives 0, as in frameworks.
  __device__ static float backward(float x, float dy) { return x > 0.0f ? dy : 0.0f; }
};

// e^v for v <= 0 (what GELU needs), 0 below -87.3 (where e^v leaves the normal floats), NaN for
// NaN; ~2 ulp. Cody-Waite reduction v = n ln2 + r, |r| <= ln2 / 2, a degree-6 Taylor polynomial
// (remainder < 1.3e-7 relative), 2^n from the exponent bits. Unlike libm's expf it has no branch
// and no call, so the emulator's loops vectorise it (8 lanes on AVX2), and the GPU computes the
// same fmaf chain.
__device__ __forceinline__ float exp_nonpositive(float v) {
  const float n = rintf(v * 1.44269504f);
  float r = fmaf(n, -0.693145752f, v);  // ln 2 in two parts: n * hi is exact
  r = fmaf(n, -1.42860677e-6f, r);
  float p = 1.0f / 720.0f;
  p = fmaf(p, r, 1.0f / 120.0f);
  p = fmaf(p, r, 1.0f / 24.0f);
  p = fmaf(p, r, 1.0f / 6.0f);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  const int e = static_cast<int>(n < -126.0f ? -126.0f : n) + 127;  // v <= 0: n <= 0, no overflow
  const float scaled = p * __int_as_float(e << 23);
  return v < -87.3f ? 0.0f : scaled;
}

// Phi(x) = 0.5 erfc(-x / sqrt 2), the normal CDF, to a relative error of ~1e-7 plus float
// rounding, for every x (no cancellation for x << 0, where GELU needs relative accuracy). erfc(a)
// for a >= 0 is t exp(-a^2 + P(t)), t = 1 / (1 + a / 2), P a degree-9 Chebyshev fit (Press et
// al., Numerical Recipes, "erfcc": fractional error < 1.2e-7); erfc(-a) = 2 - erfc(a). One
// division, one exponential and no branch: the libm erfcf it replaces branched by range and took
// 20% of an airbench step on the emulator. The exponent -a^2 + P(t) is <= 0.
__device__ __forceinline__ float normal_cdf(float x) {
  const float z = -x * kSqrtHalf;
  const float a = fabsf(z);
  const float t = 1.0f / fmaf(0.5f, a, 1.0f);
  float p = 0.17087277f;
  p = fmaf(p, t, -0.82215223f);
  p = fmaf(p, t, 1.48851587f);
  p = fmaf(p, t, -1.13520398f);
  p = fmaf(p, t, 0.27886807f);
  p = fmaf(p, t, -0.18628806f);
  p = fmaf(p, t, 0.09678418f);
  p = fmaf(p, t, 0.37409196f);
  p = fmaf(p, t, 1.00002368f);
  p = fmaf(p, t, -1.26551223f);
  const float half_erfc = 0.5f * t * exp_nonpositive(fmaf(-a, a, p));
  return z >= 0.0f ? half_erfc : 1.0f - half_erfc;
}

struct Gelu {
  __device__ static float forward(float x) { return x * normal_cdf(x); }
  // d/dx [x Phi(x)] = Phi(x) + x phi(x).
  __device__ static float backward(float x, float dy) {
    return dy * fmaf(x * kInvSqrt2Pi, exp_nonpositive(-0.5f * x * x), normal_cdf(x));
  }
};

template <class Act, class T>
__global__ void __launch_bounds__(kBlock) forward_kernel(const T* x, T* y, std::size_t n) {
  for (const std::size_t i : grid_range(n)) y[i] = stored_as<T>(Act::forward(to_float(x[i])));
}

template <class Act, class T>
__global__ void __launch_bounds__(kBlock)
    backward_kernel(const T* x, const T* dy, T* dx, std::size_t n) {
  for (const std::size_t i : grid_range(n))
    dx[i] = stored_as<T>(Act::backward(to_float(x[i]), to_float(dy[i])));
}

void check_args(Activation act, const void* a, const void* b, std::size_t n, const char* what) {
  GQ_CHECK(act == Activation::relu || act == Activation::gelu,
           "{}: unknown activation {} (expected relu or gelu)", what, static_cast<int>(act));
  GQ_CHECK(n == 0 || (a != nullptr && b != nullptr), "{}: null device pointer for n = {}", what, n);
}

}  // namespace

template <class T>
void activation_forward(Activation act, const T* x, T* y, std::size_t n, stream_t stream) {
  check_args(act, x, y, n, "activation_forward");
  if (n == 0) return;
  const unsigned grid = grid_stride_blocks(n, kBlock);
  if (act == Activation::relu)
    launch(forward_kernel<Relu, T>, grid, kBlock, 0, stream, x, y, n);
  else
    launch(forward_kernel<Gelu, T>, grid, kBlock, 0, stream, x, y, n);
}

template <class T>
void activation_backward(Activation act, const T* x, const T* dy, T* dx, std::size_t n,
                         stream_t stream) {
  check_args(act, x, dx, n, "activation_backward");
  GQ_CHECK(n == 0 || dy != nullptr, "activation_backward: null dy for n = {}", n);
  if (n == 0) return;
  const unsigned grid = grid_stride_blocks(n, kBlock);
  if (act == Activation::relu)
    launch(backward_kernel<Relu, T>, grid, kBlock, 0, stream, x, dy, dx, n);
  else
    launch(backward_kernel<Gelu, T>, grid, kBlock, 0, stream, x, dy, dx, n);
}

#define GQ_ACTIVATION_STORAGE(T)                                                        \
  template void activation_forward<T>(Activation, const T*, T*, std::size_t, stream_t); \
  template void activation_backward<T>(Activation, const T*, const T*, T*, std::size_t, stream_t);
GQ_ACTIVATION_STORAGE(float)
GQ_ACTIVATION_STORAGE(bf16)
#undef GQ_ACTIVATION_STORAGE

}  // namespace gq::kernels
