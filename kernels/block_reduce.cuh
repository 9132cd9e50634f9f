// Device-side building blocks for deterministic reductions: a warp tree over shuffles and a block
// tree over one shared slot per warp, for any combine operation. The combination order depends
// only on the block shape, never on timing, so a reduction built from these is bit-reproducible on
// a given launch shape.
#pragma once

#include "runtime/portable.cuh"

namespace gq::kernels {

constexpr unsigned kFullMask = 0xffffffffu;

// (value, index) pairs for argmax: the larger value wins; equal values go to the smaller index, so
// the result is the first maximum, as numpy.argmax returns.
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

// The value of lane (this lane ^ offset).
__device__ __forceinline__ float shfl_xor(float v, int offset) {
  return __shfl_xor_sync(kFullMask, v, offset);
}
__device__ __forceinline__ double shfl_xor(double v, int offset) {
  return __shfl_xor_sync(kFullMask, v, offset);
}
__device__ __forceinline__ ValueIndex shfl_xor(ValueIndex v, int offset) {
  return {__shfl_xor_sync(kFullMask, v.value, offset), __shfl_xor_sync(kFullMask, v.index, offset)};
}

// Butterfly over the 32 lanes of a full warp; every lane gets the result.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, shfl_xor(v, offset));
  return v;
}

// What lane 0 of warp_reduce returns (every lane's, for a commutative op), computed by one thread
// from the 32 lanes' inputs: the same tree in the same operand order, so the same bits. lanes is
// overwritten. Kernels whose emulator shape gives a warp's work to one thread use it: there a
// shuffle costs every lane ~50 ns, 16 times what the 31 combines cost here.
template <class T, class Op>
__device__ __forceinline__ T warp_reduce_serial(T (&lanes)[32], Op op) {
  for (int half = 16; half > 0; half >>= 1)
    for (int l = 0; l < half; ++l) lanes[l] = op(lanes[l], lanes[l + half]);
  return lanes[0];
}

// Block-wide reduction for a block of BLOCK threads (a multiple of 32, at most 1024, or 1). Every
// thread must call it; thread 0 gets the result (others get a partial). BLOCK = 1 is a plain
// loop's worth of reduction: kernels choose it on the emulator, where each barrier and shuffle
// costs every thread ~50 ns (see kEmulatorShapes). `identity` fills the slots of absent warps.
template <int BLOCK, class T, class Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T identity) {
  static_assert(BLOCK == 1 || (BLOCK % 32 == 0 && BLOCK <= 1024), "block_reduce needs whole warps");
  if constexpr (BLOCK == 1) {
    return v;
  } else {
    __shared__ T warp_partials[BLOCK / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_reduce(v, op);
    if (lane == 0) warp_partials[warp] = v;
    __syncthreads();
    if (warp == 0) v = warp_reduce(lane < BLOCK / 32 ? warp_partials[lane] : identity, op);
    __syncthreads();  // warp_partials may be reused by the caller's next reduction
    return v;
  }
}

struct AddCombine {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MaxCombine {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct ArgmaxCombine {
  __device__ ValueIndex operator()(ValueIndex a, ValueIndex b) const { return better_of(a, b); }
};

__device__ __forceinline__ float warp_sum(float v) {
  return warp_reduce(v, AddCombine{});
}
__device__ __forceinline__ float warp_max(float v) {
  return warp_reduce(v, MaxCombine{});
}
__device__ __forceinline__ ValueIndex warp_argmax(ValueIndex v) {
  return warp_reduce(v, ArgmaxCombine{});
}

// Sum in the type given (float or double: no silent promotion).
template <int BLOCK, class T>
__device__ __forceinline__ T block_sum(T v) {
  return block_reduce<BLOCK>(v, AddCombine{}, T{0});
}
template <int BLOCK>
__device__ __forceinline__ float block_max(float v) {
  return block_reduce<BLOCK>(v, MaxCombine{}, -INFINITY);
}
template <int BLOCK>
__device__ __forceinline__ ValueIndex block_argmax(ValueIndex v) {
  return block_reduce<BLOCK>(v, ArgmaxCombine{}, ValueIndex{-INFINITY, kNoIndex});
}

}  // namespace gq::kernels
