// threadIdx, blockIdx, blockDim, gridDim, warpSize and dynamic shared memory. The scheduler keeps
// the running fiber and its block in thread-local variables; the built-ins read them as const
// lvalues, so they cannot be assigned and references to them stay valid across barriers.
#pragma once

#include "runtime/cuemu/types.h"

namespace cuemu::detail {

// The part of a fiber that kernel code reads; the scheduler's Fiber derives from it.
struct ThreadState {
  uint3 tid{0, 0, 0};
};

inline thread_local ThreadState* tl_thread = nullptr;
inline thread_local uint3 tl_block_idx{0, 0, 0};
inline thread_local dim3 tl_block_dim{};
inline thread_local dim3 tl_grid_dim{};
inline thread_local unsigned char* tl_dyn_smem = nullptr;

}  // namespace cuemu::detail

#define threadIdx (static_cast<const ::uint3&>(::cuemu::detail::tl_thread->tid))
#define blockIdx (static_cast<const ::uint3&>(::cuemu::detail::tl_block_idx))
#define blockDim (static_cast<const ::dim3&>(::cuemu::detail::tl_block_dim))
#define gridDim (static_cast<const ::dim3&>(::cuemu::detail::tl_grid_dim))

inline constexpr int warpSize = 32;

// Dynamic shared memory of the running block: 16-byte aligned, filled with 0xFF (NaN for floats,
// -1 for integers) at each block start, and followed directly by a PROT_NONE guard page, so reads
// of unwritten elements look wrong and writes past `smem` bytes crash at the offending line.
#define CUEMU_DYN_SHARED(T, name) T* name = reinterpret_cast<T*>(::cuemu::detail::tl_dyn_smem)
