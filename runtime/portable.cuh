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
#include <cooperative_groups.h>
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

#include "runtime/capture.h"
#include "runtime/device.h"
#include "runtime/host_device.h"
#include "runtime/launch_check.h"
#include "runtime/launch_counters.h"
#include "runtime/stream.h"

namespace gq {

// Whose launch decisions the kernels take: the GPU's (nvcc), or shapes tuned for the emulator,
// where a block's threads run one after another on a CPU core and every barrier costs each thread
// ~50 ns (one-thread blocks, contiguous index shares, fewer blocks). The emulator build with
// GQ_EMU_GPU_DECISIONS takes the GPU's: every launch shape, tile, branch and index mapping of the
// nvcc build then runs on the emulator too (slower; CI runs the kernel suites that way).
// Use it only for tuning (shapes, tiles, which equivalent path), never for what is computed.
#if defined(__CUDACC__) || GQ_EMU_GPU_DECISIONS
inline constexpr bool kEmulatorShapes = false;
#else
inline constexpr bool kEmulatorShapes = true;
#endif

#if !defined(__CUDACC__)
namespace detail {
// Emulator: a launch kept to run later, while this thread captures a graph (runtime/graph.h: at
// every replay) or with CUEMU_STREAMS=deferred (runtime/emulated_streams.h: when its stream runs).
// The arguments are converted now, as a GPU's launch copies them when it is issued. Returns false
// when the launch is to run now.
template <class... Params, class... Args>
bool keep_launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem,
                 bool cooperative, stream_t stream, Args&&... args) {
  if (t_capture == nullptr && !streams_deferred()) [[likely]]
    return false;
  auto op = [kernel, grid, block, smem, cooperative,
             packed = std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)] {
    std::apply(
        [&](const auto&... a) {
          if (cooperative)
            cuemu::launch_cooperative(kernel, grid, block, smem, a...);
          else
            cuemu::launch(kernel, grid, block, smem, a...);
        },
        packed);
  };
  if (t_capture == nullptr) return defer(stream, {1, 0, 0}, std::move(op));
  const std::size_t bytes = sizeof(op);
  record(stream, OpKind::launch, "kernel launch", std::move(op), bytes);
  return true;
}
}  // namespace detail
#endif

// Launches kernel<<<grid, block, smem, stream>>>(args...) on the GPU, or runs it on the emulator.
// Either way the launch is counted (gq::launch_counters()).
// Arguments are converted to the kernel's parameter types, as a real launch does.
// While this thread captures a graph (runtime/graph.h) the launch is recorded instead: by CUDA on
// the GPU, by detail::keep_launch on the emulator; it is counted at each replay. With
// GQ_SYNC_EVERY_LAUNCH=1 (runtime/launch_check.h) each launch is followed by a checked sync.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, stream_t stream,
            Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "launch: wrong number of kernel arguments");
#if defined(__CUDACC__)
  const bool captured = detail::t_capture != nullptr;
  if (captured) [[unlikely]]
    detail::note_captured(stream, detail::OpKind::launch, "kernel launch");
  kernel<<<grid, block, smem, stream>>>(std::forward<Args>(args)...);
  GQ_CUDA_CHECK(cudaGetLastError());
  // runtime/launch_counters.h (the emulator counts in cuemu::launch)
  if (!captured) detail::count_launch();
#else
  const bool captured = detail::t_capture != nullptr;
  if (!detail::keep_launch(kernel, grid, block, smem, false, stream, args...))
    cuemu::launch(kernel, grid, block, smem, std::forward<Args>(args)...);
#endif
  if (!captured && detail::sync_every_launch()) [[unlikely]]
    detail::check_launched(reinterpret_cast<const void*>(kernel), stream);
}

// A cooperative launch (CUDA's cooperative attribute): every block of the grid is resident at
// once, so the kernel may call grid_sync(). The grid must not exceed
// cooperative_blocks_limit(kernel, block, smem). Counted, checked and captured like launch().
template <class... Params, class... Args>
void launch_cooperative(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem,
                        stream_t stream, Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args),
                "launch_cooperative: wrong number of kernel arguments");
#if defined(__CUDACC__)
  const bool captured = detail::t_capture != nullptr;
  if (captured) [[unlikely]]
    detail::note_captured(stream, detail::OpKind::launch, "cooperative kernel launch");
  std::tuple<std::decay_t<Params>...> packed(std::forward<Args>(args)...);
  // cudaLaunchKernelEx with the cooperative attribute: unlike cudaLaunchCooperativeKernel it is
  // valid in a stream capture (a cooperative kernel node).
  cudaLaunchAttribute cooperative{};
  cooperative.id = cudaLaunchAttributeCooperative;
  cooperative.val.cooperative = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = &cooperative;
  config.numAttrs = 1;
  std::apply(
      [&](auto&... a) {
        void* argv[] = {static_cast<void*>(&a)..., nullptr};
        GQ_CUDA_CHECK(cudaLaunchKernelExC(&config, reinterpret_cast<const void*>(kernel), argv));
      },
      packed);
  if (!captured) detail::count_launch();
#else
  const bool captured = detail::t_capture != nullptr;
  if (!detail::keep_launch(kernel, grid, block, smem, true, stream, args...))
    cuemu::launch_cooperative(kernel, grid, block, smem, std::forward<Args>(args)...);
#endif
  if (!captured && detail::sync_every_launch()) [[unlikely]]
    detail::check_launched(reinterpret_cast<const void*>(kernel), stream);
}

// The largest grid of `kernel` with `block` threads and `smem` bytes that can be resident at
// once: a cooperative launch's limit (the occupancy times the SMs on a GPU).
template <class... Params>
unsigned cooperative_blocks_limit(void (*kernel)(Params...), unsigned block, std::size_t smem) {
#if defined(__CUDACC__)
  int per_sm = 0;
  GQ_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel,
                                                              static_cast<int>(block), smem));
  return static_cast<unsigned>(per_sm) * static_cast<unsigned>(device_info().sm_count);
#else
  (void)kernel, (void)block, (void)smem;
  return cuemu::kMaxCooperativeBlocks;
#endif
}

// cooperative_groups::this_grid().sync(), in a kernel launched with launch_cooperative: every
// thread of the grid arrives before any continues, and what was written before is visible after.
#if defined(__CUDACC__)
__device__ __forceinline__ void grid_sync() {
  cooperative_groups::this_grid().sync();
}
#else
inline void grid_sync(std::source_location loc = std::source_location::current()) {
  cuemu::grid_sync(loc);
}
#endif

// The share of [0, n) one thread owns in a loop spread over many threads: `for (i : range)`.
struct IndexRange {
  std::size_t first, last, stride;
  struct iterator {
    std::size_t i, stride;
    GQ_HD std::size_t operator*() const { return i; }
    GQ_HD iterator& operator++() {
      // The emulator's shares are contiguous (thread_share): a constant step lets g++ vectorise.
      i += kEmulatorShapes ? 1 : stride;
      return *this;
    }
    // `<`, not `!=`: a strided walk steps over `last`.
    GQ_HD bool operator!=(const iterator& end) const { return i < end.i; }
  };
  GQ_HD iterator begin() const { return {first, stride}; }
  GQ_HD iterator end() const { return {last, stride}; }
};

// Thread t of `threads` takes its share of [0, n). On the GPU the share is strided (neighbouring
// threads touch neighbouring elements: coalesced loads). On the emulator, whose threads run one
// after another on a CPU core, it is one contiguous chunk (what caches and prefetchers want):
// a strided walk there costs ~10 ns per element against ~1 ns. Both visit every index exactly
// once, so maps give identical results; float reductions round differently between the devices
// (but deterministically on each, as the shares depend only on n and the launch shape).
// kEmulatorShapes chooses; the GPU-decision emulator build walks the GPU's strided shares.
GQ_HD IndexRange thread_share(std::size_t n, std::size_t t, std::size_t threads) {
  if (!kEmulatorShapes) return {t, n, threads};
  const std::size_t chunk = (n + threads - 1) / threads;
  const std::size_t first = t * chunk < n ? t * chunk : n;
  return {first, first + chunk < n ? first + chunk : n, 1};
}

// This thread's share of [0, n) in a loop over the whole (1-D) grid.
__device__ __forceinline__ IndexRange grid_range(std::size_t n) {
  return thread_share(n, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                      std::size_t{gridDim.x} * blockDim.x);
}

// This thread's share of [0, n) in a loop over its (1-D) block.
__device__ __forceinline__ IndexRange block_range(std::size_t n) {
  return thread_share(n, threadIdx.x, blockDim.x);
}

// Grid size for a grid-stride loop over n items with `block` threads per block: enough blocks to
// fill the device (a few per SM, or per emulator worker), never more than the work needs.
inline unsigned grid_stride_blocks(std::size_t n, unsigned block, unsigned blocks_per_sm = 4) {
  const std::size_t needed = (n + block - 1) / block;
  const std::size_t cap = static_cast<std::size_t>(device_info().sm_count) * blocks_per_sm;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min(needed, cap)));
}

}  // namespace gq
