// GQ_HD marks functions that run on both the host and the device (RNG, small math helpers).
// Under nvcc it is __host__ __device__; under g++ (host code, and the emulator) it is empty.
#pragma once

#if defined(__CUDACC__)
#define GQ_HD __host__ __device__ __forceinline__
#else
#define GQ_HD inline
#endif
