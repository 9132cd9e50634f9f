// GPU build only: the calling thread's cuBLAS handle (runtime/blas_cuda.cpp: fp32 math, no
// atomics, our own workspace), bound to `stream`. Shared by blas::gemm and blas::GemmPlan.
#pragma once

#include <cublas_v2.h>

#include "runtime/stream.h"

namespace gq::blas::detail {

cublasHandle_t cublas_handle_for(stream_t stream);

}  // namespace gq::blas::detail
