// Block barriers and warp operations. Each call takes the caller's std::source_location as a
// defaulted last argument, so every error names the kernel line that went wrong.
//
// Barrier rules (stricter than hardware, where these are undefined or hang):
//  - all threads of a barrier phase must call it from the same line (else: divergent barrier);
//  - no thread may have exited when a barrier is reached (CUEMU_LENIENT_EXIT=1 allows it, and
//    then the barrier waits only for the threads still running);
//  - no runnable thread left -> deadlock, listing the first waiters with file:line.
//
// Warp-op rules (__shfl*_sync, __ballot/__any/__all_sync, __syncwarp):
//  - the calling lane must be in `mask`; every lane of one op must pass the same mask and call
//    from the same line; one group of lanes per warp may be inside a warp op at a time;
//  - the op waits for the lanes of `mask` that exist in the block (a partial last warp has fewer
//    than 32). A lane of `mask` that has exited is an error (lenient shuffle mode: it is skipped);
//  - a shuffle whose source lane gives no value returns poison (all bits 1) and counts it
//    (cuemu::poison_read_count()). If the source lane is NAMED BY THE MASK but missing (partial
//    warp) or exited, that is a bug on hardware too, and in strict mode (the default) it throws
//    cuemu::error with file:line; if the source lane is outside the mask, the read only poisons
//    and counts (width-segmented code legitimately ignores such values).
#pragma once

#include <cstdint>
#include <cstring>
#include <source_location>
#include <type_traits>

#include "runtime/cuemu/builtins.h"

namespace cuemu::detail {
using Loc = std::source_location;
enum class WarpOp : unsigned char { sync, shfl, shfl_up, shfl_down, shfl_xor, ballot, any, all };
// Arrives at a block barrier; returns the number of threads whose `pred` was non-zero.
int block_barrier(int pred, const char* what, const Loc& loc);
// Arrives at the grid barrier of a cooperative launch (grid.cpp).
void grid_barrier(const Loc& loc);
// Runs one warp op for the calling lane: exchanges `value` and returns the value of `src_lane`
// (vote ops: the ballot of non-zero values over the lanes that took part).
std::uint64_t warp_op(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width,
                      const Loc& loc);
unsigned active_mask();

template <class T>
std::uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "warp shuffles take trivially copyable types of at most 8 bytes");
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
T from_bits(std::uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
}  // namespace cuemu::detail

inline void __syncthreads(std::source_location loc = std::source_location::current()) {
  ::cuemu::detail::block_barrier(0, "__syncthreads", loc);
}
namespace cuemu {
// cooperative_groups::this_grid().sync(): every thread of every block of a cooperative launch
// (cuemu::launch_cooperative) arrives before any continues; memory written before it is visible
// to every block after it. Outside a cooperative launch: cuemu::error.
inline void grid_sync(std::source_location loc = std::source_location::current()) {
  detail::grid_barrier(loc);
}
}  // namespace cuemu

inline int __syncthreads_count(int pred,
                               std::source_location loc = std::source_location::current()) {
  return ::cuemu::detail::block_barrier(pred != 0, "__syncthreads_count", loc);
}
inline int __syncthreads_and(int pred, std::source_location loc = std::source_location::current()) {
  const unsigned n = ::cuemu::detail::tl_block_dim.x * ::cuemu::detail::tl_block_dim.y *
                     ::cuemu::detail::tl_block_dim.z;
  return static_cast<unsigned>(
             ::cuemu::detail::block_barrier(pred != 0, "__syncthreads_and", loc)) == n;
}
inline int __syncthreads_or(int pred, std::source_location loc = std::source_location::current()) {
  return ::cuemu::detail::block_barrier(pred != 0, "__syncthreads_or", loc) != 0;
}

inline void __syncwarp(unsigned mask = 0xffffffffu,
                       std::source_location loc = std::source_location::current()) {
  ::cuemu::detail::warp_op(::cuemu::detail::WarpOp::sync, mask, 0, 0, 32, loc);
}

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32,
              std::source_location loc = std::source_location::current()) {
  using namespace ::cuemu::detail;
  return from_bits<T>(warp_op(WarpOp::shfl, mask, to_bits(var), src_lane, width, loc));
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32,
                 std::source_location loc = std::source_location::current()) {
  using namespace ::cuemu::detail;
  return from_bits<T>(
      warp_op(WarpOp::shfl_up, mask, to_bits(var), static_cast<int>(delta), width, loc));
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32,
                   std::source_location loc = std::source_location::current()) {
  using namespace ::cuemu::detail;
  return from_bits<T>(
      warp_op(WarpOp::shfl_down, mask, to_bits(var), static_cast<int>(delta), width, loc));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32,
                  std::source_location loc = std::source_location::current()) {
  using namespace ::cuemu::detail;
  return from_bits<T>(warp_op(WarpOp::shfl_xor, mask, to_bits(var), lane_mask, width, loc));
}

inline unsigned __ballot_sync(unsigned mask, int pred,
                              std::source_location loc = std::source_location::current()) {
  using namespace ::cuemu::detail;
  return static_cast<unsigned>(warp_op(WarpOp::ballot, mask, pred != 0, 0, 32, loc));
}
inline int __any_sync(unsigned mask, int pred,
                      std::source_location loc = std::source_location::current()) {
  using namespace ::cuemu::detail;
  return static_cast<int>(warp_op(WarpOp::any, mask, pred != 0, 0, 32, loc));
}
inline int __all_sync(unsigned mask, int pred,
                      std::source_location loc = std::source_location::current()) {
  using namespace ::cuemu::detail;
  return static_cast<int>(warp_op(WarpOp::all, mask, pred != 0, 0, 32, loc));
}
// SIMT divergence is not tracked: the active lanes are those of the warp that have not exited.
inline unsigned __activemask() {
  return ::cuemu::detail::active_mask();
}
