// Kernels for the emulator tests. Plain CUDA C++: nvcc compiles this file unchanged (see
// tests/cuemu/README.md), and g++ compiles it against cuemu. Kernels whose line numbers appear in
// expected error messages sit in clang-format-off sections with their line constants.
#pragma once

#include "runtime/portable.cuh"

// Internal linkage: each test file that includes this header gets its own copies, and uses some.
#if defined(__GNUC__) && !defined(__CUDACC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
namespace emu_test {
namespace {

// --- built-ins -------------------------------------------------------------------------------
// Writes the 13 built-in values of every thread to out[13 * global linear id].
__global__ void k_builtins(unsigned* out) {
  const unsigned bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  unsigned* o = out + 13 * (bx * blockDim.x * blockDim.y * blockDim.z + tx);
  const uint3& t = threadIdx;  // a reference to a built-in stays valid across barriers
  __syncthreads();
  o[0] = t.x, o[1] = t.y, o[2] = t.z;
  o[3] = blockIdx.x, o[4] = blockIdx.y, o[5] = blockIdx.z;
  o[6] = blockDim.x, o[7] = blockDim.y, o[8] = blockDim.z;
  o[9] = gridDim.x, o[10] = gridDim.y, o[11] = gridDim.z;
  o[12] = warpSize;
}

__global__ void k_noop() {}

// --- shared memory ---------------------------------------------------------------------------
// Block sum through static shared memory; correct only if each resident block has its own copy.
__global__ void k_static_shared_sum(const int* in, int* out) {
  __shared__ int s[128];
  s[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  if (threadIdx.x == 0) {
    int sum = 0;
    for (unsigned i = 0; i < blockDim.x; ++i) sum += s[i];
    out[blockIdx.x] = sum;
  }
}

// out[0..n): what each thread saw in unwritten dynamic shared memory; out[n..2n): a value
// written by another thread after a barrier; flags[block]: 16-byte alignment and NaN double view.
__global__ void k_dyn_shared(unsigned* out, int* flags, int n) {
  GQ_DYN_SHARED(unsigned, s);
  const int i = threadIdx.x;
  unsigned* o = out + 2 * n * blockIdx.x;
  o[i] = s[i];
  __syncthreads();
  s[i] = 1000u * blockIdx.x + i;
  __syncthreads();
  o[n + i] = s[n - 1 - i];
  if (i == 0) {
    GQ_DYN_SHARED(double, d);
    flags[blockIdx.x] = (reinterpret_cast<unsigned long long>(d) % 16 == 0) ? 1 : 0;
  }
}

// --- barriers --------------------------------------------------------------------------------
// Tree reduction with barriers in a loop; kRacy leaves out the loop's barrier (planted bug 1).
template <int BLOCK, bool kRacy>
__global__ void k_block_reduce(const int* in, int* out, int n) {
  __shared__ int s[BLOCK];
  const int i = blockIdx.x * BLOCK + threadIdx.x;
  s[threadIdx.x] = i < n ? in[i] : 0;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
    if (static_cast<int>(threadIdx.x) < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    if (!kRacy) __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}

__global__ void k_sync_votes(int* out) {
  const int t = threadIdx.x;
  const int c = __syncthreads_count(t % 3 == 0);
  const int a = __syncthreads_and(t >= 0);
  const int a0 = __syncthreads_and(t != 5);
  const int o = __syncthreads_or(t == 7);
  const int o0 = __syncthreads_or(t > 100000);
  if (t == 0) out[0] = c, out[1] = a, out[2] = a0, out[3] = o, out[4] = o0;
}

// --- warp operations -------------------------------------------------------------------------
enum ShflKind { kIdx = 0, kUp = 1, kDown = 2, kXor = 3 };

// Every thread shuffles a value derived from its id, masked to the warp's existing lanes.
template <class T>
__global__ void k_shfl(T* out, int kind, int arg, int width) {
  const unsigned mask = __ballot_sync(0xffffffffu, 1);  // the lanes this (maybe partial) warp has
  const T v = static_cast<T>(threadIdx.x * 3 + 1);
  T r;
  switch (kind) {
    case kIdx: r = __shfl_sync(mask, v, arg, width); break;
    case kUp: r = __shfl_up_sync(mask, v, static_cast<unsigned>(arg), width); break;
    case kDown: r = __shfl_down_sync(mask, v, static_cast<unsigned>(arg), width); break;
    default: r = __shfl_xor_sync(mask, v, arg, width); break;
  }
  out[threadIdx.x] = r;
}

// Warp-shuffle sum of a block's values (all lanes exist: blockDim multiple of 32).
__global__ void k_warp_sum(const float* in, float* out) {
  float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  if (threadIdx.x % 32 == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = v;
}

__global__ void k_votes(unsigned* out) {
  const unsigned lane = threadIdx.x % 32;
  const unsigned w = threadIdx.x / 32;
  const unsigned b = __ballot_sync(0xffffffffu, lane % 2 == 0);
  const int any = __any_sync(0xffffffffu, lane == 31);
  const int all = __all_sync(0xffffffffu, lane < 32);
  // No lane can exit before every lane has passed the warp's last op, so here all are active.
  const unsigned act = __activemask();
  const int all0 = __all_sync(0xffffffffu, lane != 3);
  __syncwarp();
  if (lane == 0) out[5 * w] = b, out[5 * w + 1] = any, out[5 * w + 2] = all, out[5 * w + 3] = all0,
                 out[5 * w + 4] = act;
}

// --- atomics ---------------------------------------------------------------------------------
// c[0] += 1, c[1] = max(gid), c[2] = min(gid + 5), c[3] += 2 (CAS loop), c[4] swapped with gid,
// sum_exch += the old values c[4] returned.
template <class T>
__global__ void k_atomics(T* c, unsigned long long* sum_exch) {
  const T gid = static_cast<T>(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(&c[0], T(1));
  atomicMax(&c[1], gid);
  atomicMin(&c[2], static_cast<T>(gid + 5));
  T old = c[3], assumed;
  do {
    assumed = old;
    old = atomicCAS(&c[3], assumed, static_cast<T>(assumed + 2));
  } while (old != assumed);
  const T prev = atomicExch(&c[4], gid);
  atomicAdd(sum_exch, static_cast<unsigned long long>(prev));
}

template <class T>
__global__ void k_atomic_sub(T* c) {
  atomicSub(c, T(3));
}

template <class T>
__global__ void k_atomic_fadd(T* c, T v) {
  atomicAdd(c, v);
}

// --- arguments -------------------------------------------------------------------------------
__global__ void k_args(float a, int b, long long c, double d, unsigned char e, double* out) {
  out[0] = a, out[1] = b, out[2] = static_cast<double>(c), out[3] = d, out[4] = e;
}

// Each thread modifies its own copy of the parameter.
__global__ void k_param_copy(int v, int* out) {
  v += threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = v;
}

struct Pod {
  int a;
  float b;
};
__global__ void k_struct_arg(Pod p, float4 q, float* out) {
  out[0] = p.a + p.b + q.x + q.y + q.z + q.w;
}

// --- intrinsics ------------------------------------------------------------------------------
__global__ void k_intrinsics(int* out, float* fout) {
  out[0] = __popc(0xf0f0u);
  out[1] = __popcll(0xffffffffffull);
  out[2] = __clz(1);
  out[3] = __clzll(1ll);
  out[4] = __ffs(8);
  out[5] = __ffsll(0);
  out[6] = static_cast<int>(__brev(1u) >> 31);
  out[7] = __float2int_rn(2.5f);
  out[8] = __float2int_rn(3.5f);
  out[9] = __float_as_int(1.0f);
  out[10] = min(3, 7) + max(3, 7);
  out[11] = static_cast<int>(max(-1, 2u) == 0xffffffffu);  // CUDA's mixed overload is unsigned
  out[12] = __ldg(&out[0]);
  fout[0] = __saturatef(1.5f) + __saturatef(-2.0f);
  fout[1] = __expf(0.0f) + __logf(1.0f) + __fdividef(1.0f, 4.0f);
  fout[2] = rsqrtf(4.0f);
  fout[3] = __int_as_float(__float_as_int(2.5f));
  fout[4] = fmaf(2.0f, 3.0f, 1.0f) + __fmaf_rn(1.0f, 1.0f, 1.0f);
  fout[5] = static_cast<float>(__longlong_as_double(__double_as_longlong(0.75)));
  fout[6] = __uint_as_float(__float_as_uint(-1.0f));
  fout[7] = min(1.5f, -2.0f) + max(1.5, 2.5);
  fout[8] = __powf(2.0f, 3.0f) + __sinf(0.0f) + __cosf(0.0f);
}

__global__ void k_printf(int v) { printf("cuemu printf %d from thread %u\n", v, threadIdx.x); }

// Grid-stride saxpy, the shape of the project's elementwise kernels.
__global__ void k_saxpy(int n, float a, const float* __restrict__ x, float* __restrict__ y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    y[i] = a * x[i] + y[i];
}

// --- planted bugs and error classes ----------------------------------------------------------
// clang-format off
__global__ void k_divergent_barrier(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}
inline constexpr int kDivergentLineA = __LINE__ - 6;
inline constexpr int kDivergentLineB = __LINE__ - 5;

__global__ void k_exit_then_barrier(const int* in, int* out, int n) {
  __shared__ int s[64];
  if (static_cast<int>(threadIdx.x) >= n) return;
  s[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  out[threadIdx.x] = s[n - 1 - static_cast<int>(threadIdx.x)];
}
inline constexpr int kExitBarrierLine = __LINE__ - 3;

// blockDim 48: warp 1 has 16 lanes, but the full mask names 32; lanes 0..15 read lanes 16..31.
__global__ void k_shfl_missing_lane(float* out) {
  float v = 1.0f;
  for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
  out[threadIdx.x] = v;
}
inline constexpr int kMissingLaneLine = __LINE__ - 3;

// Lanes 16..31 leave before the warp op that names them.
__global__ void k_shfl_exited_lane(int* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x), 20);
}
inline constexpr int kExitedLaneLine = __LINE__ - 2;

// Lanes 0..15 wait for the whole warp at __syncwarp, lanes 16..31 wait for the block.
__global__ void k_deadlock(int* out) {
  if (threadIdx.x % 32 < 16) {
    __syncwarp();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}
inline constexpr int kDeadlockSyncwarpLine = __LINE__ - 6;
inline constexpr int kDeadlockBarrierLine = __LINE__ - 5;

__global__ void k_lane_not_in_mask(int* out) {
  out[threadIdx.x] = __shfl_sync(0x1u, 5, 0);
}
inline constexpr int kNotInMaskLine = __LINE__ - 2;

__global__ void k_mismatched_masks(int* out) {
  const unsigned mask = threadIdx.x < 8 ? 0xffffffffu : 0xfffffffeu;
  out[threadIdx.x] = __shfl_sync(mask, 1, 0);
}
inline constexpr int kMismatchLine = __LINE__ - 2;

// Reads a lane outside its (valid) mask: poison, counted, not an error.
__global__ void k_shfl_outside_mask(unsigned* out) {
  const unsigned lane = threadIdx.x % 32;
  if (lane < 16) out[lane] = __shfl_sync(0x0000ffffu, lane, lane + 16, 32);
  else out[lane] = 0;
}

__global__ void k_bad_width(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1, 12);
}
inline constexpr int kBadWidthLine = __LINE__ - 2;
// clang-format on

// --- cooperative launches --------------------------------------------------------------------
// `rounds` times: every thread takes the value of the thread one block further on (a, wrapping),
// keeps it in shared memory across a grid sync, and stores it + 1. Right only if every block
// reached each grid sync before any went on, and each block kept its own shared memory.
__global__ void k_grid_rotate(int* a, int rounds) {
  __shared__ int kept[1024];
  const int n = static_cast<int>(gridDim.x * blockDim.x);
  const int gid = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  for (int r = 0; r < rounds; ++r) {
    kept[threadIdx.x] = a[(gid + static_cast<int>(blockDim.x)) % n];
    gq::grid_sync();
    a[gid] = kept[threadIdx.x] + 1;
    gq::grid_sync();
  }
}

// Block 1 returns while the others wait at the grid sync (a hang on a GPU).
__global__ void k_grid_sync_block_leaves() {
  if (blockIdx.x == 1) return;
  gq::grid_sync();
}

// A thread of block 1 exits before the block barrier: block 1 fails while the others wait at the
// grid sync.
__global__ void k_grid_sync_block_fails() {
  if (blockIdx.x == 1 && threadIdx.x == 0) return;
  if (blockIdx.x == 1) __syncthreads();
  gq::grid_sync();
}

__global__ void k_grid_sync_only() {
  gq::grid_sync();
}

}  // namespace
}  // namespace emu_test
#if defined(__GNUC__) && !defined(__CUDACC__)
#pragma GCC diagnostic pop
#endif
