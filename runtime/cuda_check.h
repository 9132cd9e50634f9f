// GPU build only: checks for CUDA runtime, cuBLAS and cuDNN status codes. Each macro evaluates
// its expression once and, on failure, throws gq::Error (gq::OutOfMemory for allocation
// failures) with "file:line: <expr> failed: <error name>: <error string>".
// Included by runtime/portable.cuh under nvcc; also compiles under g++ with the CUDA include path.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

#include "runtime/error.h"

namespace gq::detail {

[[noreturn]] inline void cuda_fail(cudaError_t err, const char* expr, const char* file, int line) {
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    // The first CUDA call on a machine without a GPU or driver: say that, not only the code.
    (void)cudaGetLastError();
    throw Error(format_message(
        "{}:{}: no CUDA device ({} failed: {}: {}). This is a GPU build (GQ_CUDA=ON): it needs an "
        "NVIDIA GPU and a driver for CUDA {}.{}+ (libcuda.so.1), not hidden by "
        "CUDA_VISIBLE_DEVICES; without one, use the emulator build (GQ_CUDA=OFF)",
        file, line, expr, cudaGetErrorName(err), cudaGetErrorString(err), CUDART_VERSION / 1000,
        CUDART_VERSION % 1000 / 10));
  }
  const std::string msg = format_message("{}:{}: {} failed: {}: {}", file, line, expr,
                                         cudaGetErrorName(err), cudaGetErrorString(err));
  if (err == cudaErrorMemoryAllocation) {
    // Not a sticky error: clear it so the next launch check does not report it again.
    (void)cudaGetLastError();
    throw OutOfMemory(msg);
  }
  throw Error(msg);
}

[[noreturn]] inline void cublas_fail(cublasStatus_t st, const char* expr, const char* file,
                                     int line) {
  const std::string msg = format_message("{}:{}: {} failed: {}: {}", file, line, expr,
                                         cublasGetStatusName(st), cublasGetStatusString(st));
  if (st == CUBLAS_STATUS_ALLOC_FAILED) throw OutOfMemory(msg);
  throw Error(msg);
}

[[noreturn]] inline void cudnn_fail(cudnnStatus_t st, const char* expr, const char* file,
                                    int line) {
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof(detail));
  std::string msg =
      format_message("{}:{}: {} failed: {}", file, line, expr, cudnnGetErrorString(st));
  if (detail[0] != '\0') msg += format_message(" ({})", static_cast<const char*>(detail));
  if (st == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
      st == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
    throw OutOfMemory(msg);
  }
  throw Error(msg);
}

}  // namespace gq::detail

#define GQ_CUDA_CHECK(expr)                                             \
  do {                                                                  \
    const cudaError_t gq_cuda_err_ = (expr);                            \
    if (gq_cuda_err_ != cudaSuccess)                                    \
      ::gq::detail::cuda_fail(gq_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define GQ_CUBLAS_CHECK(expr)                                              \
  do {                                                                     \
    const cublasStatus_t gq_cublas_st_ = (expr);                           \
    if (gq_cublas_st_ != CUBLAS_STATUS_SUCCESS)                            \
      ::gq::detail::cublas_fail(gq_cublas_st_, #expr, __FILE__, __LINE__); \
  } while (0)

#define GQ_CUDNN_CHECK(expr)                                             \
  do {                                                                   \
    const cudnnStatus_t gq_cudnn_st_ = (expr);                           \
    if (gq_cudnn_st_ != CUDNN_STATUS_SUCCESS)                            \
      ::gq::detail::cudnn_fail(gq_cudnn_st_, #expr, __FILE__, __LINE__); \
  } while (0)
