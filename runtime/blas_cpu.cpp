// gq::blas on the CPU (emulator build): oneDNN's dnnl_sgemm by default, OpenBLAS's cblas_sgemm
// on request (detail::set_cpu_gemm, GQ_CPU_GEMM=openblas). Device memory is host memory here, so
// the pointers go straight to the library. Both split work by output tiles / fixed k-partitions
// with a fixed reduction order, so results are bit-identical run to run for a given thread count;
// both overwrite C without reading it when beta == 0.
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include <atomic>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "runtime/blas.h"
#include "runtime/capture.h"

namespace gq::blas {

namespace detail {
namespace {
CpuGemm initial_cpu_gemm() {
  const char* env = std::getenv("GQ_CPU_GEMM");
  return env != nullptr && std::string_view(env) == "openblas" ? CpuGemm::OpenBlas
                                                               : CpuGemm::OneDnn;
}
std::atomic<CpuGemm>& cpu_gemm_choice() {
  static std::atomic<CpuGemm> choice{initial_cpu_gemm()};
  return choice;
}
}  // namespace

void set_cpu_gemm(CpuGemm backend) {
  cpu_gemm_choice() = backend;
}
CpuGemm cpu_gemm() {
  return cpu_gemm_choice();
}
}  // namespace detail

std::string library_version() {
  const dnnl_version_t* v = dnnl_version();
  const std::string onednn = fmt::format("oneDNN {}.{}.{} sgemm", v->major, v->minor, v->patch);
  const std::string openblas = openblas_get_config();
  return detail::cpu_gemm() == detail::CpuGemm::OneDnn
             ? fmt::format("emulator: {} (or {}: GQ_CPU_GEMM=openblas)", onednn, openblas)
             : fmt::format("emulator: {} (GQ_CPU_GEMM=openblas; or {})", openblas, onednn);
}

namespace {

void sgemm(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  if (detail::cpu_gemm() == detail::CpuGemm::OpenBlas) {
    cblas_sgemm(CblasRowMajor, op_a == Op::N ? CblasNoTrans : CblasTrans,
                op_b == Op::N ? CblasNoTrans : CblasTrans, m, n, k, alpha, a, lda, b, ldb, beta, c,
                ldc);
    return;
  }
  const dnnl_status_t st = dnnl_sgemm(op_a == Op::N ? 'N' : 'T', op_b == Op::N ? 'N' : 'T', m, n, k,
                                      alpha, a, lda, b, ldb, beta, c, ldc);
  GQ_CHECK(st == dnnl_success,
           "blas::gemm: dnnl_sgemm(m={}, n={}, k={}, lda={}, ldb={}, ldc={}) failed with oneDNN "
           "status {}",
           m, n, k, lda, ldb, ldc, static_cast<int>(st));
}

}  // namespace

void gemm(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc, stream_t stream) {
  detail::check_gemm_args(op_a, op_b, m, n, k, lda, ldb, ldc, a, b, c);
  if (gq::detail::record_library_call(stream, "blas::gemm", [=] {
        gemm(op_a, op_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
      }))
    return;  // in a graph capture: runs at each replay
  sgemm(op_a, op_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_strided_batched(Op op_a, Op op_b, int m, int n, int k, float alpha, const float* a,
                          int lda, long long stride_a, const float* b, int ldb, long long stride_b,
                          float beta, float* c, int ldc, long long stride_c, int batch,
                          stream_t stream) {
  detail::check_gemm_args(op_a, op_b, m, n, k, lda, ldb, ldc, a, b, c);
  detail::check_batch_args(m, n, ldc, stride_a, stride_b, stride_c, batch);
  if (gq::detail::record_library_call(stream, "blas::gemm_strided_batched", [=] {
        gemm_strided_batched(op_a, op_b, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta,
                             c, ldc, stride_c, batch, stream);
      }))
    return;  // in a graph capture: runs at each replay
  for (int i = 0; i < batch; ++i) {
    sgemm(op_a, op_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
          c + i * stride_c, ldc);
  }
}

}  // namespace gq::blas
