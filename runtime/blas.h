// Dense linear algebra on device memory: single-precision GEMM in row-major convention.
// GPU build: cuBLAS (row-major through the transpose identity C^T = B^T A^T, default math, no
// TF32). Emulator build: oneDNN's dnnl_sgemm (default) or OpenBLAS cblas_sgemm on the (host)
// pointers; see detail::set_cpu_gemm.
// Results are deterministic run to run on a given device; beta == 0 ignores C (NaN in C does not
// leak into the result).
#pragma once

#include "runtime/error.h"
#include "runtime/stream.h"

namespace gq::blas {

enum class Op { N, T };

// Row-major: C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C. lda/ldb/ldc are row-major
// leading dimensions (elements between consecutive rows of the stored matrix):
//   A stored as m x k (Op::N, lda >= k) or k x m (Op::T, lda >= m), likewise B (k x n or n x k),
//   C stored as m x n (ldc >= n). Pointers are device pointers.
// m, n, k >= 1; throws gq::Error naming the bad value otherwise.
void gemm(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc, stream_t stream = nullptr);

// `batch` independent GEMMs; matrix i of A starts at a + i * stride_a (likewise B and C).
// Strides are in elements, >= 0 (stride 0 broadcasts one A or B to every batch entry; C's stride
// must keep the outputs disjoint).
void gemm_strided_batched(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a,
                          int lda, long long stride_a, const float* b, int ldb, long long stride_b,
                          float beta, float* c, int ldc, long long stride_c, int batch,
                          stream_t stream = nullptr);

// The library behind gemm and its version, as loaded at run time and as built against (a wheel or
// toolkit older than the headers shows here first), e.g. "cuBLAS 13.1.0 (built with 13.1.0)";
// the emulator build names its CPU libraries, the active one first.
std::string library_version();

namespace detail {
// Emulator build: which CPU library runs gemm. oneDNN (default): AVX-512 JIT kernels on the same
// OpenMP thread pool as dnn::Conv2d. OpenBLAS: Debian's build detects unknown CPUs (this
// Sapphire Rapids VM) as "Prescott" and runs SSE3 kernels unless OPENBLAS_CORETYPE=SkylakeX is
// set, and its pthread pool competes with oneDNN's OpenMP pool. The environment variable
// GQ_CPU_GEMM=openblas selects OpenBLAS at startup. No effect on the GPU build.
enum class CpuGemm { OneDnn, OpenBlas };
void set_cpu_gemm(CpuGemm backend);
CpuGemm cpu_gemm();

// Argument validation shared by both backends: throws gq::Error naming the bad value.
inline void check_gemm_dims(Op op_a, Op op_b, int m, int n, int k, int lda, int ldb, int ldc) {
  GQ_CHECK(m > 0 && n > 0 && k > 0, "blas::gemm: m, n, k must be positive, got m={} n={} k={}", m,
           n, k);
  const int a_cols = op_a == Op::N ? k : m;  // row length of A as stored
  const int b_cols = op_b == Op::N ? n : k;  // row length of B as stored
  GQ_CHECK(lda >= a_cols, "blas::gemm: lda={} is smaller than the row length {} of A ({} x {}{})",
           lda, a_cols, m, k, op_a == Op::T ? ", transposed" : "");
  GQ_CHECK(ldb >= b_cols, "blas::gemm: ldb={} is smaller than the row length {} of B ({} x {}{})",
           ldb, b_cols, k, n, op_b == Op::T ? ", transposed" : "");
  GQ_CHECK(ldc >= n, "blas::gemm: ldc={} is smaller than n={}", ldc, n);
}
inline void check_gemm_args(Op op_a, Op op_b, int m, int n, int k, int lda, int ldb, int ldc,
                            const void* a, const void* b, const void* c) {
  check_gemm_dims(op_a, op_b, m, n, k, lda, ldb, ldc);
  GQ_CHECK(a != nullptr && b != nullptr && c != nullptr,
           "blas::gemm: null pointer (a={}, b={}, c={})", a, b, c);
}

inline void check_batch_args(int m, int n, int ldc, long long stride_a, long long stride_b,
                             long long stride_c, int batch) {
  GQ_CHECK(batch > 0, "blas::gemm_strided_batched: batch must be positive, got {}", batch);
  GQ_CHECK(stride_a >= 0 && stride_b >= 0,
           "blas::gemm_strided_batched: strides must be non-negative, got stride_a={} stride_b={}",
           stride_a, stride_b);
  const long long c_extent = static_cast<long long>(m - 1) * ldc + n;
  GQ_CHECK(batch == 1 || stride_c >= c_extent,
           "blas::gemm_strided_batched: stride_c={} makes the {} outputs overlap (each spans {} "
           "elements)",
           stride_c, batch, c_extent);
}
}  // namespace detail

}  // namespace gq::blas
