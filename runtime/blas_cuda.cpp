// gq::blas on the GPU: cuBLAS. cuBLAS is column-major; a row-major m x n matrix with leading
// dimension ld is the column-major n x m matrix with the same ld, i.e. its transpose. So the
// row-major C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T: swap the
// operands (B first), swap m and n, keep each operand's own transpose flag.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <fmt/format.h>

#include "runtime/blas.h"
#include "runtime/cublas_handle.h"
#include "runtime/cuda_check.h"
#include "runtime/device.h"
#include "runtime/memory.h"

namespace gq::blas {

namespace detail {
// The CPU GEMM backend choice has no meaning on the GPU.
void set_cpu_gemm(CpuGemm /*backend*/) {}
CpuGemm cpu_gemm() {
  return CpuGemm::OneDnn;
}
}  // namespace detail

namespace {

// One cuBLAS handle per host thread, created on first use and bound to the caller's stream on
// every call. Math mode is CUBLAS_DEFAULT_MATH: full fp32 (no TF32 tensor-core rounding), and
// atomics stay disallowed (the default), so results are bit-identical run to run on one device.
// The handle's workspace is ours, allocated once (the size cuBLAS recommends: 32 MiB on Hopper
// and later, 4 MiB before): its default pool would be allocated per stream on first use, which a
// CUDA graph capture forbids (runtime/graph.h).
class Handle {
 public:
  // device_info() first: without a GPU, the "no CUDA device" error, not cuBLAS's status.
  Handle() : workspace_(std::size_t{device_info().cc_major >= 9 ? 32u : 4u} << 20) {
    GQ_CUBLAS_CHECK(cublasCreate(&handle_));
    GQ_CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
    GQ_CUBLAS_CHECK(cublasSetAtomicsMode(handle_, CUBLAS_ATOMICS_NOT_ALLOWED));
    GQ_CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
  }
  ~Handle() {
    // At process exit the CUDA context may already be gone; nothing useful to do on failure.
    if (handle_ != nullptr) (void)cublasDestroy(handle_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  cublasHandle_t get() const { return handle_; }
  // cublasSetStream resets the workspace to cuBLAS's own pool: set ours again after it.
  void bind(stream_t stream) {
    GQ_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    GQ_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.data(), workspace_.bytes()));
  }

 private:
  DeviceBuffer<char> workspace_;
  cublasHandle_t handle_ = nullptr;
};

cublasHandle_t handle_for(stream_t stream) {
  thread_local Handle handle;
  handle.bind(stream);
  return handle.get();
}

}  // namespace

cublasHandle_t detail::cublas_handle_for(stream_t stream) {
  return handle_for(stream);
}

namespace {

cublasOperation_t to_cublas(Op op) {
  return op == Op::N ? CUBLAS_OP_N : CUBLAS_OP_T;
}

}  // namespace

std::string library_version() {
  int version = 0;
  GQ_CUBLAS_CHECK(cublasGetVersion(handle_for(nullptr), &version));
  // cuBLAS numbers its versions 10000 * major + 100 * minor + patch.
  return fmt::format("cuBLAS {}.{}.{} (built with {}.{}.{})", version / 10000, version % 10000 / 100,
                     version % 100, CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR, CUBLAS_VER_PATCH);
}

void gemm(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc, stream_t stream) {
  detail::check_gemm_args(op_a, op_b, m, n, k, lda, ldb, ldc, a, b, c);
  GQ_CUBLAS_CHECK(cublasSgemm(handle_for(stream), to_cublas(op_b), to_cublas(op_a), n, m, k, &alpha,
                              b, ldb, a, lda, &beta, c, ldc));
}

void gemm_strided_batched(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a,
                          int lda, long long stride_a, const float* b, int ldb, long long stride_b,
                          float beta, float* c, int ldc, long long stride_c, int batch,
                          stream_t stream) {
  detail::check_gemm_args(op_a, op_b, m, n, k, lda, ldb, ldc, a, b, c);
  detail::check_batch_args(m, n, ldc, stride_a, stride_b, stride_c, batch);
  GQ_CUBLAS_CHECK(cublasSgemmStridedBatched(handle_for(stream), to_cublas(op_b), to_cublas(op_a), n,
                                            m, k, &alpha, b, ldb, stride_b, a, lda, stride_a, &beta,
                                            c, ldc, stride_c, batch));
}

}  // namespace gq::blas
