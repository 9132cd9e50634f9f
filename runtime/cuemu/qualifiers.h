// CUDA's declaration qualifiers for g++. Included after every standard header (pitfall 2: glibc
// and libstdc++ spell __attribute__((__noinline__)), so __noinline__ is deliberately NOT defined;
// __restrict__ is g++'s own keyword and is left alone).
#pragma once

#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// All fibers of a block run on one worker thread, and each worker runs one block at a time, so a
// per-thread static is exactly one copy per resident block (a plain static breaks with 2 workers).
#define __shared__ static thread_local
