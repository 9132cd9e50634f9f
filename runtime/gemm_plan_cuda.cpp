// blas::GemmPlan on the GPU: fp32 forwards to blas::gemm; bf16 is one cublasGemmEx on the fp32
// matrices with CUBLAS_COMPUTE_32F_FAST_16BF: cuBLAS rounds A and B to bf16 for the tensor cores
// and accumulates in fp32, writing C in fp32, so the plan needs no buffers. Row-major through the
// column-major transpose identity, as blas::gemm (runtime/blas_cuda.cpp). The handle keeps
// atomics disallowed, so the result is bit-identical run to run on one device.
#include <cublas_v2.h>

#include <fmt/format.h>

#include "runtime/cublas_handle.h"
#include "runtime/cuda_check.h"
#include "runtime/gemm_plan.h"

namespace gq::blas {

namespace {
constexpr const char* kBf16Compute = "cuBLAS CUBLAS_COMPUTE_32F_FAST_16BF";

cublasOperation_t to_cublas(Op op) {
  return op == Op::N ? CUBLAS_OP_N : CUBLAS_OP_T;
}
}  // namespace

struct GemmPlan::Impl {
  GemmShape shape;
  float alpha, beta;
  Precision precision;
};

GemmPlan::GemmPlan(const GemmShape& s, float alpha, float beta, Precision precision)
    : impl_(std::make_unique<Impl>(Impl{s, alpha, beta, precision})),
      shape_(s),
      precision_(precision),
      implementation_(precision == Precision::bf16 ? kBf16Compute : "blas::gemm") {
  detail::check_gemm_dims(s.op_a, s.op_b, s.m, s.n, s.k, s.lda, s.ldb, s.ldc);
}

GemmPlan::~GemmPlan() = default;
GemmPlan::GemmPlan(GemmPlan&&) noexcept = default;
GemmPlan& GemmPlan::operator=(GemmPlan&&) noexcept = default;

void GemmPlan::run(const float* a, const float* b, float* c, stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "blas::GemmPlan: use of a moved-from plan");
  const Impl& p = *impl_;
  const GemmShape& s = p.shape;
  if (p.precision == Precision::fp32) {
    gemm(s.op_a, s.op_b, s.m, s.n, s.k, p.alpha, a, s.lda, b, s.ldb, p.beta, c, s.ldc, stream);
    return;
  }
  detail::check_gemm_args(s.op_a, s.op_b, s.m, s.n, s.k, s.lda, s.ldb, s.ldc, a, b, c);
  // Column-major C^T = op(B)^T op(A)^T: B first, m and n swapped (runtime/blas_cuda.cpp).
  GQ_CUBLAS_CHECK(cublasGemmEx(detail::cublas_handle_for(stream), to_cublas(s.op_b),
                               to_cublas(s.op_a), s.n, s.m, s.k, &p.alpha, b, CUDA_R_32F, s.ldb, a,
                               CUDA_R_32F, s.lda, &p.beta, c, CUDA_R_32F, s.ldc,
                               CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT));
}

std::size_t GemmPlan::workspace_bytes() const {
  GQ_CHECK(impl_ != nullptr, "blas::GemmPlan: use of a moved-from plan");
  return 0;
}


}  // namespace gq::blas
