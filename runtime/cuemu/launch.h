// cuemu::launch: the emulator's kernel<<<grid, block, smem>>>(args...).
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "runtime/cuemu/types.h"

namespace cuemu {
namespace detail {
// A launch with its kernel and converted arguments type-erased, so the scheduler is not a template.
struct LaunchDesc {
  void (*run_thread)(const void* pack);  // calls the kernel with a fresh copy of the arguments
  const void* pack;
  dim3 grid, block;
  std::size_t smem;
  bool cooperative = false;
};
// Validates the configuration, runs every block on the worker pool (a cooperative grid: every
// block at once, each on a thread of its own), returns when all are done, and rethrows the first
// error as cuemu::error.
void run_grid(const LaunchDesc& desc);
}  // namespace detail

// Most blocks a cooperative launch may have (all of them must be resident at once: on a GPU the
// occupancy times the SMs; here each block takes an OS thread).
inline constexpr unsigned kMaxCooperativeBlocks = 64;

// Largest dynamic shared memory per block (H100/H200 opt-in limit, 227 KiB).
inline constexpr std::size_t kMaxDynamicSmem = 227 * 1024;

namespace detail {
template <class... P, class... A>
void launch_grid(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t smem, bool cooperative,
                 A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "cuemu::launch: wrong number of kernel arguments");
  struct Pack {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> args;
  };
  const Pack pack{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
  LaunchDesc desc{[](const void* p) {
                    const Pack& pk = *static_cast<const Pack*>(p);
                    std::apply(pk.kernel, pk.args);
                  },
                  kernel == nullptr ? nullptr : &pack,
                  grid,
                  block,
                  smem,
                  cooperative};
  run_grid(desc);
}
}  // namespace detail

// Runs the whole grid before returning. Arguments are converted to the kernel's parameter types
// once, and each thread's call copies them, so a kernel that modifies a parameter affects only
// its own thread, as on a GPU.
template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t smem, A&&... args) {
  detail::launch_grid(kernel, grid, block, smem, false, std::forward<A>(args)...);
}

// cudaLaunchCooperativeKernel: every block is resident at once, so the kernel may call
// __grid_sync() (cooperative_groups' grid.sync()). At most kMaxCooperativeBlocks blocks.
template <class... P, class... A>
void launch_cooperative(void (*kernel)(P...), dim3 grid, dim3 block, std::size_t smem,
                        A&&... args) {
  detail::launch_grid(kernel, grid, block, smem, true, std::forward<A>(args)...);
}

}  // namespace cuemu
