// A planned GEMM of one shape, in fp32 or mixed precision (--precision): what a layer with fixed
// shapes (models/linear.cpp) calls instead of blas::gemm, so that the bf16 path can own its
// conversion buffers and library primitive, made once at set-up.
//   fp32: exactly blas::gemm (the same call, the same bits).
//   bf16: A and B rounded to bf16, products accumulated in fp32, C written in fp32.
//     Emulator build: A and B rounded with gq::to_bf16 (runtime/bf16.h: the GPU's rounding, bit
//     for bit) into plan-owned bf16 buffers, then a oneDNN matmul primitive with bf16 inputs and
//     an fp32 output (brg:avx512_core_bf16 on AVX512-BF16 CPUs), alpha as its output scale and
//     beta as a sum post-op.
//     GPU build: cublasGemmEx on the fp32 matrices with CUBLAS_COMPUTE_32F_FAST_16BF (cuBLAS
//     rounds the inputs to bf16 for the tensor cores and accumulates in fp32); no buffers.
// Row-major, with blas::gemm's meaning of op_a, op_b, m, n, k, lda, ldb, ldc.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "runtime/blas.h"
#include "runtime/precision.h"
#include "runtime/stream.h"

namespace gq::blas {

struct GemmShape {
  Op op_a = Op::N, op_b = Op::N;
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0;
};

class GemmPlan {
 public:
  // alpha and beta are fixed per plan (a layer's are); beta == 0 ignores C as blas::gemm does.
  GemmPlan(const GemmShape& shape, float alpha, float beta, Precision precision);
  ~GemmPlan();
  GemmPlan(GemmPlan&&) noexcept;
  GemmPlan& operator=(GemmPlan&&) noexcept;
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;

  // C = alpha op(A) op(B) + beta C. Device pointers; allocates nothing.
  void run(const float* a, const float* b, float* c, stream_t stream = nullptr);

  const GemmShape& shape() const { return shape_; }
  Precision precision() const { return precision_; }
  // What runs: "blas::gemm" (fp32), oneDNN's matmul implementation or the cuBLAS compute type.
  const std::string& implementation() const { return implementation_; }
  // Memory this plan owns (the emulator's bf16 copies of A and B), in bytes.
  std::size_t workspace_bytes() const;

 private:
  struct Impl;  // gemm_plan_cpu.cpp (oneDNN) or gemm_plan_cuda.cpp (cuBLAS)
  std::unique_ptr<Impl> impl_;
  GemmShape shape_;
  Precision precision_;
  std::string implementation_;  // set once by the constructor
};

}  // namespace gq::blas
