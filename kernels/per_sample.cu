// Per-sample weight gradients and norms of Linear and Conv2d layers (kernels/per_sample.h).
//
// Kernels and launch shapes:
//  - outer_kernel (Linear per-sample gw = dy_i ⊗ x_i): grid-stride map over b*out*in outputs.
//  - row_dot_kernel (squared norms: sum a*b over a row, plus an optional second pair): one block of
//    kRowBlock threads per row, block_range shares, block_sum (fixed tree). kRowBlock is 1 on the
//    emulator, where each barrier costs every thread ~50 ns and one fiber looping over a
//    contiguous row is fastest.
//  - linear_sq_norms_kernel: the same shape, one block per sample.
//  - row_sums_kernel (per-sample conv bias gradients): grid-stride, one thread per row of L.
// Conv2d gradients and norms: im2col (kernels/im2col.h), then blas::gemm_strided_batched per
// sample (gradients, instantiated norms) or two batched Gram matrices (ghost norms).
// Memory traffic: the per-sample outputs are written once (b*out*in or b*k*c*r*s floats); the conv
// functions write and read one per-sample unfold of the batch (b*L*c*r*s floats).
// Every output is accumulated in a fixed order (no atomics): results are bit-reproducible for a
// shape and device.
#include "kernels/per_sample.h"

#include <algorithm>
#include <cstddef>

#include "kernels/block_reduce.cuh"
#include "kernels/im2col.h"
#include "runtime/blas.h"
#include "runtime/dnn.h"
#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/memory.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;
constexpr int kRowBlock = kEmulatorShapes ? 1 : 256;
constexpr std::size_t kIndexLimit = std::size_t{1} << 32;

// ---- Small maps and reductions ----------------------------------------------------------------

__global__ void __launch_bounds__(kBlock)
    outer_kernel(const float* __restrict__ x, const float* __restrict__ dy, std::size_t total,
                 FastDivmod in_div, int out, float* __restrict__ gw) {
  const std::size_t in = in_div.divisor();
  for (const std::size_t e : grid_range(total)) {
    std::uint32_t row, p;  // row = i * out + o
    in_div.divmod(static_cast<std::uint32_t>(e), row, p);
    const std::uint32_t i = row / static_cast<std::uint32_t>(out);
    gw[e] = dy[row] * x[i * in + p];
  }
}

// out[i] = sum_j a[i*len + j] * b[i*len + j] (+ the same over a2, b2 with len2 when a2 != null).
__global__ void __launch_bounds__(kRowBlock)
    row_dot_kernel(const float* __restrict__ a, const float* __restrict__ b, std::size_t len,
                   const float* __restrict__ a2, const float* __restrict__ b2, std::size_t len2,
                   float* __restrict__ out) {
  const std::size_t i = blockIdx.x;
  const float* ai = a + i * len;
  const float* bi = b + i * len;
  float acc = 0.0f;
  for (const std::size_t j : block_range(len)) acc = fmaf(ai[j], bi[j], acc);
  acc = block_sum<kRowBlock>(acc);
  float acc2 = 0.0f;
  if (a2 != nullptr) {
    const float* a2i = a2 + i * len2;
    const float* b2i = b2 + i * len2;
    for (const std::size_t j : block_range(len2)) acc2 = fmaf(a2i[j], b2i[j], acc2);
  }
  acc2 = block_sum<kRowBlock>(acc2);
  if (threadIdx.x == 0) out[i] = acc + acc2;
}

// sq[i] = ||dy_i||^2 * ||x_i||^2 (+ ||dy_i||^2 with the bias).
__global__ void __launch_bounds__(kRowBlock)
    linear_sq_norms_kernel(const float* __restrict__ x, const float* __restrict__ dy, int in,
                           int out, bool with_bias, float* __restrict__ sq) {
  const std::size_t i = blockIdx.x;
  const float* xi = x + i * in;
  const float* dyi = dy + i * out;
  float sx = 0.0f, sd = 0.0f;
  for (const std::size_t j : block_range(static_cast<std::size_t>(in))) sx = fmaf(xi[j], xi[j], sx);
  for (const std::size_t j : block_range(static_cast<std::size_t>(out)))
    sd = fmaf(dyi[j], dyi[j], sd);
  sx = block_sum<kRowBlock>(sx);
  sd = block_sum<kRowBlock>(sd);
  if (threadIdx.x == 0) sq[i] = with_bias ? fmaf(sd, sx, sd) : sd * sx;
}

// sums[r] = sum_j a[r*len + j], in order.
__global__ void __launch_bounds__(kBlock)
    row_sums_kernel(const float* __restrict__ a, std::size_t rows, int len,
                    float* __restrict__ sums) {
  for (const std::size_t r : grid_range(rows)) {
    const float* ar = a + r * len;
    float acc = 0.0f;
    for (int j = 0; j < len; ++j) acc += ar[j];
    sums[r] = acc;
  }
}

// ---- Host helpers -----------------------------------------------------------------------------

constexpr std::size_t round_up(std::size_t floats) {
  return (floats + 15) / 16 * 16;
}

// Carves consecutive 64-byte-aligned float arrays out of a scratch buffer.
class Carver {
 public:
  explicit Carver(void* base) : at_(static_cast<float*>(base)) {}
  float* take(std::size_t floats) {
    float* p = at_;
    at_ += round_up(floats);
    return p;
  }

 private:
  float* at_;
};

void check_linear(const char* what, const float* x, const float* dy, int b, int in, int out) {
  GQ_CHECK(b >= 1 && in >= 1 && out >= 1, "{}: needs b, in, out >= 1 (got b={}, in={}, out={})",
           what, b, in, out);
  GQ_CHECK(x && dy, "{}: null device pointer (x={}, dy={})", what, static_cast<const void*>(x),
           static_cast<const void*>(dy));
  GQ_CHECK(static_cast<std::size_t>(b) * in * out < kIndexLimit,
           "{}: b*in*out = {}*{}*{} needs 64-bit indices", what, b, in, out);
}

std::size_t positions(const dnn::Conv2dShape& s) {
  return static_cast<std::size_t>(s.out_h()) * s.out_w();
}
std::size_t patch(const dnn::Conv2dShape& s) {
  return static_cast<std::size_t>(s.c) * s.r * s.s;
}

void check_conv(const char* what, const dnn::Conv2dShape& s, const float* x, const float* dy) {
  dnn::check_shape(s);
  GQ_CHECK(x && dy, "{}: null device pointer (x={}, dy={})", what, static_cast<const void*>(x),
           static_cast<const void*>(dy));
  const std::size_t L = positions(s);
  GQ_CHECK(
      s.x_elems() < kIndexLimit && s.n * L * std::max(patch(s), std::size_t(s.k)) < kIndexLimit,
      "{}: batch {} with {} positions and patch {} needs 64-bit indices", what, s.n, L, patch(s));
}

void row_sums(const float* a, std::size_t rows, int len, float* sums, stream_t stream) {
  launch(row_sums_kernel, grid_stride_blocks(rows, kBlock), kBlock, 0, stream, a, rows, len, sums);
}

}  // namespace

// ---- Linear -----------------------------------------------------------------------------------

void linear_per_sample_grads(const float* x, const float* dy, int b, int in, int out, float* gw,
                             float* gb, stream_t stream) {
  check_linear("linear_per_sample_grads", x, dy, b, in, out);
  GQ_CHECK(gw, "linear_per_sample_grads: null gw");
  const std::size_t total = static_cast<std::size_t>(b) * in * out;
  launch(outer_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, x, dy, total,
         FastDivmod(static_cast<std::uint32_t>(in)), out, gw);
  if (gb) copy_on_device(gb, dy, static_cast<std::size_t>(b) * out * sizeof(float), stream);
}

void linear_per_sample_sq_norms(const float* x, const float* dy, int b, int in, int out,
                                bool with_bias, float* sq_norms, stream_t stream) {
  check_linear("linear_per_sample_sq_norms", x, dy, b, in, out);
  GQ_CHECK(sq_norms, "linear_per_sample_sq_norms: null sq_norms");
  launch(linear_sq_norms_kernel, static_cast<unsigned>(b), kRowBlock, 0, stream, x, dy, in, out,
         with_bias, sq_norms);
}

// ---- Conv2d -----------------------------------------------------------------------------------

NormMethod conv2d_norm_method(const dnn::Conv2dShape& s) {
  const double L = static_cast<double>(positions(s)), p = static_cast<double>(patch(s)), d = s.k;
  return L * L * (p + d) < L * p * d ? NormMethod::ghost : NormMethod::instantiate;
}

std::size_t conv2d_per_sample_scratch_bytes(const dnn::Conv2dShape& s) {
  const std::size_t b = s.n, L = positions(s), p = patch(s), d = s.k;
  const std::size_t col = round_up(b * L * p), bias = round_up(b * d);
  const std::size_t instantiate = round_up(b * d * p), ghost = 2 * round_up(b * L * L);
  return (col + bias + std::max(instantiate, ghost)) * sizeof(float);
}

void conv2d_per_sample_grads(const dnn::Conv2dShape& s, const float* x, const float* dy, float* gw,
                             float* gb, void* scratch, stream_t stream) {
  const char* what = "conv2d_per_sample_grads";
  check_conv(what, s, x, dy);
  GQ_CHECK(gw && scratch, "{}: null gw or scratch", what);
  const int L = static_cast<int>(positions(s)), p = static_cast<int>(patch(s));
  float* col = Carver(scratch).take(static_cast<std::size_t>(s.n) * L * p);
  im2col(s, x, nullptr, 0, s.n, col, static_cast<std::size_t>(p) * L, L, stream);
  // gw_i [k, p] = dy_i [k, L] x col_i^T (col_i is [p, L]).
  blas::gemm_strided_batched(blas::Op::N, blas::Op::T, s.k, p, L, 1.0f, dy, L,
                             static_cast<long long>(s.k) * L, col, L, static_cast<long long>(L) * p,
                             0.0f, gw, p, static_cast<long long>(s.k) * p, s.n, stream);
  if (gb) row_sums(dy, static_cast<std::size_t>(s.n) * s.k, L, gb, stream);
}

void conv2d_per_sample_bias_grads(const dnn::Conv2dShape& s, const float* dy, float* gb,
                                  stream_t stream) {
  dnn::check_shape(s);
  GQ_CHECK(dy && gb, "conv2d_per_sample_bias_grads: null dy or gb");
  row_sums(dy, static_cast<std::size_t>(s.n) * s.k, static_cast<int>(positions(s)), gb, stream);
}

void conv2d_per_sample_sq_norms(const dnn::Conv2dShape& s, const float* x, const float* dy,
                                bool with_bias, float* sq_norms, void* scratch, stream_t stream) {
  conv2d_per_sample_sq_norms(s, conv2d_norm_method(s), x, dy, with_bias, sq_norms, scratch, stream);
}

void conv2d_per_sample_sq_norms(const dnn::Conv2dShape& s, NormMethod method, const float* x,
                                const float* dy, bool with_bias, float* sq_norms, void* scratch,
                                stream_t stream) {
  const char* what = "conv2d_per_sample_sq_norms";
  check_conv(what, s, x, dy);
  GQ_CHECK(sq_norms && scratch, "{}: null sq_norms or scratch", what);
  const int b = s.n, L = static_cast<int>(positions(s)), p = static_cast<int>(patch(s)), d = s.k;
  Carver carve(scratch);
  float* col = carve.take(static_cast<std::size_t>(b) * L * p);
  float* bias = carve.take(static_cast<std::size_t>(b) * d);
  im2col(s, x, nullptr, 0, b, col, static_cast<std::size_t>(p) * L, L, stream);
  if (with_bias) row_sums(dy, static_cast<std::size_t>(b) * d, L, bias, stream);
  const float* bias_a = with_bias ? bias : nullptr;
  if (method == NormMethod::instantiate) {
    float* g = carve.take(static_cast<std::size_t>(b) * d * p);
    blas::gemm_strided_batched(blas::Op::N, blas::Op::T, d, p, L, 1.0f, dy, L,
                               static_cast<long long>(d) * L, col, L, static_cast<long long>(L) * p,
                               0.0f, g, p, static_cast<long long>(d) * p, b, stream);
    launch(row_dot_kernel, static_cast<unsigned>(b), kRowBlock, 0, stream, g, g,
           static_cast<std::size_t>(d) * p, bias_a, bias_a, static_cast<std::size_t>(d), sq_norms);
    return;
  }
  // Ghost: Gd_i = dy_i^T dy_i and Gu_i = col_i^T col_i (both L x L), ||g_i||^2 = <Gd_i, Gu_i>.
  const std::size_t ll = static_cast<std::size_t>(L) * L;
  float* gd = carve.take(static_cast<std::size_t>(b) * ll);
  float* gu = carve.take(static_cast<std::size_t>(b) * ll);
  blas::gemm_strided_batched(blas::Op::T, blas::Op::N, L, L, d, 1.0f, dy, L,
                             static_cast<long long>(d) * L, dy, L, static_cast<long long>(d) * L,
                             0.0f, gd, L, static_cast<long long>(ll), b, stream);
  blas::gemm_strided_batched(blas::Op::T, blas::Op::N, L, L, p, 1.0f, col, L,
                             static_cast<long long>(L) * p, col, L, static_cast<long long>(L) * p,
                             0.0f, gu, L, static_cast<long long>(ll), b, stream);
  launch(row_dot_kernel, static_cast<unsigned>(b), kRowBlock, 0, stream, gd, gu, ll, bias_a, bias_a,
         static_cast<std::size_t>(d), sq_norms);
}

}  // namespace gq::kernels
