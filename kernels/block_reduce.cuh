// Device-side building blocks for deterministic reductions: a warp tree over shuffles and a block
// tree over one shared slot per warp. The combination order depends only on the block shape, never
// on timing, so a reduction built from these is bit-reproducible on a given launch shape.
#pragma once

#include "runtime/portable.cuh"

namespace gq::kernels {

constexpr unsigned kFullMask = 0xffffffffu;

// Sum over the 32 lanes of a full warp; every lane gets the result.
__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// (value, index) pairs: the larger value wins; equal values go to the smaller index, so the result
// is the first maximum, as numpy.argmax returns.
// Index carried by "no element yet"; it loses every tie, so a real -inf element still wins.
constexpr long long kNoIndex = 0x7fffffffffffffffLL;

struct ValueIndex {
  float value;
  long long index;
};

__device__ __forceinline__ ValueIndex better_of(ValueIndex a, ValueIndex b) {
  if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
  return a;
}

__device__ __forceinline__ ValueIndex warp_argmax(ValueIndex v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    ValueIndex other{__shfl_xor_sync(kFullMask, v.value, offset),
                     __shfl_xor_sync(kFullMask, v.index, offset)};
    v = better_of(v, other);
  }
  return v;
}

// Block-wide sum for a block of BLOCK threads (a multiple of 32, at most 1024, or 1). Every thread
// must call it; thread 0 gets the result (others get a partial). Uses 32 floats of shared memory.
// BLOCK = 1 is a plain loop's worth of reduction: kernels choose it on the emulator, where each
// barrier and shuffle costs every thread ~50 ns (see kOnEmulator).
template <int BLOCK>
__device__ __forceinline__ float block_sum(float v) {
  static_assert(BLOCK == 1 || (BLOCK % 32 == 0 && BLOCK <= 1024), "block_sum needs whole warps");
  if constexpr (BLOCK == 1) return v;
  __shared__ float warp_partials[BLOCK / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) warp_partials[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < BLOCK / 32 ? warp_partials[lane] : 0.0f;
    v = warp_sum(v);
  }
  __syncthreads();  // warp_partials may be reused by the caller's next block_sum
  return v;
}

template <int BLOCK>
__device__ __forceinline__ float block_max(float v) {
  static_assert(BLOCK == 1 || (BLOCK % 32 == 0 && BLOCK <= 1024), "block_max needs whole warps");
  if constexpr (BLOCK == 1) return v;
  __shared__ float warp_partials[BLOCK / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_max(v);
  if (lane == 0) warp_partials[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < BLOCK / 32 ? warp_partials[lane] : -INFINITY;
    v = warp_max(v);
  }
  __syncthreads();
  return v;
}

template <int BLOCK>
__device__ __forceinline__ ValueIndex block_argmax(ValueIndex v) {
  static_assert(BLOCK == 1 || (BLOCK % 32 == 0 && BLOCK <= 1024), "block_argmax needs whole warps");
  if constexpr (BLOCK == 1) return v;
  __shared__ float warp_values[BLOCK / 32];
  __shared__ long long warp_indices[BLOCK / 32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_argmax(v);
  if (lane == 0) {
    warp_values[warp] = v.value;
    warp_indices[warp] = v.index;
  }
  __syncthreads();
  if (warp == 0) {
    v = lane < BLOCK / 32 ? ValueIndex{warp_values[lane], warp_indices[lane]}
                          : ValueIndex{-INFINITY, kNoIndex};
    v = warp_argmax(v);
  }
  __syncthreads();
  return v;
}

}  // namespace gq::kernels
