// The one header a kernel file includes. It makes the same CUDA source build two ways:
//  - under nvcc: the real CUDA runtime; launch() is a <<<>>> launch followed by an error check;
//  - under g++:  the cuemu device emulator (runtime/cuemu), which runs every CUDA thread of a
//    block as a fiber with real __syncthreads / warp-shuffle / atomic semantics.
// Rules (docs/KERNELS.md): launch only through gq::launch, dynamic shared memory only through
// GQ_DYN_SHARED, no __noinline__, no float atomics in results that feed training.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include "runtime/cuda_check.h"
// Dynamic shared memory as a typed pointer. The raw array is declared once per kernel body;
// the cast avoids nvcc's "incompatible redeclaration" error in templated kernels.
#define GQ_DYN_SHARED(T, name)                                     \
  extern __shared__ __align__(16) unsigned char gq_dyn_smem_raw_[]; \
  T* name = reinterpret_cast<T*>(gq_dyn_smem_raw_)
#else
#include "runtime/cuemu/cuemu.h"
#define GQ_DYN_SHARED(T, name) CUEMU_DYN_SHARED(T, name)
#endif

#include "runtime/device.h"
#include "runtime/host_device.h"
#include "runtime/stream.h"

namespace gq {

// Launches kernel<<<grid, block, smem, stream>>>(args...) on the GPU, or runs it on the emulator.
// Arguments are converted to the kernel's parameter types, as a real launch does.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, stream_t stream,
            Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: wrong number of kernel arguments");
#if defined(__CUDACC__)
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  GQ_CUDA_CHECK(cudaGetLastError());
#else
  (void)stream;
  cuemu::launch(kernel, grid, block, smem, std::forward<Args>(args)...);
#endif
}

// Grid size for a grid-stride loop over n items with `block` threads per block: enough blocks to
// fill the device (a few per SM, or per emulator worker), never more than the work needs.
inline unsigned grid_stride_blocks(std::size_t n, unsigned block, unsigned blocks_per_sm = 4) {
  const std::size_t needed = (n + block - 1) / block;
  const std::size_t cap = static_cast<std::size_t>(device_info().sm_count) * blocks_per_sm;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min(needed, cap)));
}

}  // namespace gq
