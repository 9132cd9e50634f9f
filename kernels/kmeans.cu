// k-means on the device (see kmeans.h for the exact definition) and row-wise L2 normalisation.
// Launch shape, KMeansPlan::fused (the default): ONE cooperative launch (fused_kernel; a grid of
// at most one block per SM that can all be resident at once) runs every phase below with a grid
// sync where a launch boundary was: block 0 seeds, re-seeds and keeps the books, the other
// phases spread their items over the blocks. KMeansPlan::per_phase, the same phases as launches:
// seeding = one launch of one block (per centre: for each 256-point chunk in turn the block
// updates D(x) against the newest centre through a shared-memory feature tile and writes the
// chunk's tree sum, then one thread draws the next centre by a sequential inverse-CDF search;
// each centre needs a grid-wide result, so one block does all of it: ~b*f*k FMAs on one SM);
// one initial assignment; per Lloyd iteration 3 launches (counting sort: one block per cluster,
// the last block to finish then re-seeds the empty clusters; centroid update: one block per
// (cluster, feature slice); assignment: tiles of points x all centroids staged in shared memory,
// each thread owning (point, centroid) pairs, the last block to finish then counts the iteration
// and sets the convergence flag); then a final sort, update and result: 5 + 3 * max_iters
// launches for k > 1, 5 for k = 1. A block learns it is last from an integer atomic counter, so
// which block it is never changes a result. Iterations after convergence do nothing.
// Every float result is computed by one thread in a fixed order (or a fixed tree) that depends on
// neither the plan nor the grid size, so the output is bit-identical run to run and between the
// plans, with no float atomics (an integer atomicOr raises the "changed" flag). Memory traffic
// per iteration: the assignment reads b*f + (b/P)*k*f floats (P points per tile), the update
// b*f floats, the sort 2*k*b ints; FLOPs 2*b*k*f per assignment. At Grad Queue's sizes
// (b <= 16384, f <= 1024, k <= 64) the cost is launches and syncs, not arithmetic.
// On the emulator each barrier costs every thread ~50 ns, so blocks there are one thread with
// long loops (kEmulatorShapes chooses shapes only; the arithmetic is the same), and a
// cooperative grid runs each block on an OS thread of its own (runtime/cuemu/grid.cpp).
#include "kernels/kmeans.h"

#include <climits>

#include "kernels/block_reduce.cuh"
#include "runtime/error.h"
#include "runtime/portable.cuh"
#include "runtime/rng.h"

namespace gq::kernels {
namespace {

constexpr int kBlock = kEmulatorShapes ? 1 : 256;  // generic one-block-per-item kernels
constexpr int kChunk = 256;                        // seeding chunk (semantic: fixes the sum order)
constexpr int kFeatTile = 16;                      // features staged per shared-memory tile
constexpr int kTileStride = kFeatTile + 1;         // padded row: no bank conflicts
// Assignment tiles: kAssignThreads * kPairsPerThread (point, centroid) pairs per tile.
constexpr int kAssignThreads = kEmulatorShapes ? 1 : 256;
constexpr int kPairsPerThread = kEmulatorShapes ? 256 : 8;
constexpr int kMaxTilePoints = 128;
constexpr int kUpdateThreads = kEmulatorShapes ? 1 : 128;
constexpr int kUpdateWidth = kEmulatorShapes ? 32 : 1;  // features per thread in the update
constexpr int kUpdateSlice = kUpdateThreads * kUpdateWidth;
static_assert(kAssignThreads * kPairsPerThread >= kKMeansMaxClusters);
static_assert(kAssignThreads == kBlock, "the fused kernel assigns with its kBlock threads");

struct State {
  int changed;       // an assignment changed in the current iteration
  int changed_next;  // the fused kernel's flag for the iteration after (see fused_kernel)
  int converged;     // an iteration changed nothing: later iterations are no-ops
  int iterations;    // Lloyd iterations run
  int done;          // blocks of the running kernel that finished (last_block_done), else 0
};

struct Scratch {
  State* state;
  float* dist;        // b: D(x) while seeding, then the assignment distance
  float* chunk_sums;  // ceil(b / kChunk)
  int* chosen;        // b: seeding marks
};

constexpr std::size_t kAlign = 256;
std::size_t aligned(std::size_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}
int chunks_of(int b) {
  return (b + kChunk - 1) / kChunk;
}

Scratch carve(void* scratch, int b) {
  auto* p = static_cast<char*>(scratch);
  Scratch s;
  s.state = reinterpret_cast<State*>(p);
  p += aligned(sizeof(State));
  s.dist = reinterpret_cast<float*>(p);
  p += aligned(sizeof(float) * b);
  s.chunk_sums = reinterpret_cast<float*>(p);
  p += aligned(sizeof(float) * chunks_of(b));
  s.chosen = reinterpret_cast<int*>(p);
  return s;
}

__device__ __forceinline__ bool gated(const State* gate) {
  return gate && gate->converged;
}

// True in exactly one block of the grid, the last to get here, once every block's writes are
// visible device-wide: that block then does the kernel's one-block epilogue (what was a launch
// of its own). Every thread of every block must call it. The block order does not matter: the
// epilogue reads only what all blocks wrote. *done is 0 again afterwards.
__device__ __forceinline__ bool last_block_done(int* done) {
  __shared__ int last;
  __threadfence();  // this thread's writes before the count
  __syncthreads();  // the whole block is done
  if (threadIdx.x == 0) {
    const int blocks = static_cast<int>(gridDim.x * gridDim.y * gridDim.z);
    last = atomicAdd(done, 1) == blocks - 1 ? 1 : 0;
    if (last) {
      atomicExch(done, 0);
      __threadfence();  // the other blocks' writes, counted before ours, are visible
    }
  }
  __syncthreads();
  return last != 0;
}

// Integer block sum (exact, so any order gives the same result). Every thread must call it;
// every thread gets the total.
template <int BLOCK>
__device__ __forceinline__ int block_sum_int(int v) {
  if constexpr (BLOCK == 1) {
    return v;
  } else {
    __shared__ int warp_partials[BLOCK / 32];
    __shared__ int total;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
    if (threadIdx.x % 32 == 0) warp_partials[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
      int t = 0;
      for (int w = 0; w < BLOCK / 32; ++w) t += warp_partials[w];
      total = t;
    }
    __syncthreads();
    const int result = total;
    __syncthreads();  // total and warp_partials may be rewritten by the next call
    return result;
  }
}

// Exclusive prefix of `flag` over the block's threads in thread order; *count gets the total.
template <int BLOCK>
__device__ __forceinline__ int block_exclusive_scan_flag(int flag, int* count) {
  if constexpr (BLOCK == 1) {
    *count = flag;
    return 0;
  } else {
    __shared__ int warp_counts[BLOCK / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const unsigned mask = __ballot_sync(kFullMask, flag);
    if (lane == 0) warp_counts[warp] = __popc(mask);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < BLOCK / 32; ++w) {
      before += w < warp ? warp_counts[w] : 0;
      total += warp_counts[w];
    }
    __syncthreads();  // warp_counts is rewritten by the next call
    *count = total;
    return before + __popc(mask & ((1u << lane) - 1u));
  }
}

// ---- seeding --------------------------------------------------------------------------------
// One block runs the whole seeding (seed_kernel): centre c needs D(x) against centre c - 1, a
// grid-wide result, so a multi-block version needs a launch per centre (2k - 1 launches). Each
// piece below is the block-level body of what was one launch; the arithmetic and its order are
// unchanged (each point's distance in feature order, each chunk's fixed tree, the sequential
// inverse-CDF search), so the centres are the same bits as before.

// Centre 0 and the state: the whole block.
__device__ __forceinline__ void seed_first(const float* __restrict__ x, int b, int f,
                                           std::uint64_t seed, std::uint64_t rng_stream, int k,
                                           float* centroids, int* chosen, State* state) {
  const float u = uniform01(philox_random4(seed, rng_stream, 0).v[0]);
  int p = static_cast<int>(u * static_cast<float>(b));
  p = p < b - 1 ? p : b - 1;
  if (threadIdx.x == 0) {
    state->changed = 0;
    state->changed_next = 0;
    state->converged = k == 1 ? 1 : 0;
    state->iterations = 0;
    state->done = 0;
  }
  for (const std::size_t i : block_range(b)) chosen[i] = static_cast<int>(i) == p ? 1 : 0;
  for (const std::size_t j : block_range(f)) centroids[j] = x[std::size_t(p) * f + j];
}

// D(x) against `centre` (min with the previous D unless `first`) for the kChunk points of chunk
// `chunk`, and the chunk's tree sum of D: the whole block.
__device__ __forceinline__ void seed_distance_chunk(const float* __restrict__ x, int b, int f,
                                                    const float* centre, int first, int chunk,
                                                    float* dist, float* chunk_sums) {
  __shared__ float xs[kChunk * kTileStride];
  __shared__ float cs[kFeatTile];
  __shared__ float v[kChunk];
  const int base = chunk * kChunk;
  const int np = b - base < kChunk ? b - base : kChunk;
  __syncthreads();  // the previous chunk's v[0] has been stored
  for (const std::size_t p : block_range(kChunk)) v[p] = 0.0f;
  for (int j0 = 0; j0 < f; j0 += kFeatTile) {
    const int fw = f - j0 < kFeatTile ? f - j0 : kFeatTile;
    __syncthreads();  // the previous tile has been used
    for (const std::size_t e : block_range(std::size_t(np) * kFeatTile)) {
      const int p = static_cast<int>(e / kFeatTile), j = static_cast<int>(e % kFeatTile);
      if (j < fw) xs[p * kTileStride + j] = x[std::size_t(base + p) * f + j0 + j];
    }
    for (const std::size_t j : block_range(fw)) cs[j] = centre[j0 + j];
    __syncthreads();
    for (const std::size_t p : block_range(np)) {
      float acc = v[p];
      for (int j = 0; j < fw; ++j) {
        const float d = xs[p * kTileStride + j] - cs[j];
        acc = fmaf(d, d, acc);
      }
      v[p] = acc;
    }
  }
  __syncthreads();
  for (const std::size_t p : block_range(kChunk)) {
    if (static_cast<int>(p) < np) {
      const float d = first ? v[p] : fminf(dist[base + p], v[p]);
      dist[base + p] = d;
      v[p] = d;
    } else {
      v[p] = 0.0f;
    }
  }
  __syncthreads();
  for (int s = kChunk / 2; s > 0; s >>= 1) {
    for (const std::size_t t : block_range(s)) v[t] += v[t + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) chunk_sums[chunk] = v[0];
}

// Draws centre c by the inverse-CDF rule (one thread) and copies its row (the whole block).
// Reads the dist and chunk_sums the block wrote: the caller syncs the block first.
__device__ __forceinline__ void seed_select(const float* __restrict__ x, int b, int f, int c,
                                            std::uint64_t seed, std::uint64_t rng_stream,
                                            const float* dist, const float* chunk_sums, int* chosen,
                                            float* centroids) {
  __shared__ int pick;
  if (threadIdx.x == 0) {
    const int chunks = (b + kChunk - 1) / kChunk;
    float total = 0.0f;
    for (int i = 0; i < chunks; ++i) total += chunk_sums[i];
    int p = -1;
    if (total > 0.0f) {
      const float target = uniform01(philox_random4(seed, rng_stream, c).v[0]) * total;
      float running = 0.0f;
      for (int ch = 0; ch < chunks && p < 0; ++ch) {
        const float next = running + chunk_sums[ch];
        if (next > target) {
          const int end = (ch + 1) * kChunk < b ? (ch + 1) * kChunk : b;
          float r = running;
          int last_positive = -1;
          for (int i = ch * kChunk; i < end; ++i) {
            if (dist[i] > 0.0f) last_positive = i;
            r += dist[i];
            if (r > target) {
              p = i;
              break;
            }
          }
          if (p < 0) p = last_positive;
        }
        running = next;
      }
      if (p < 0)
        for (int i = b - 1; i >= 0 && p < 0; --i)
          if (dist[i] > 0.0f) p = i;
    }
    if (p < 0)  // every D is 0: the lowest-index point not yet chosen
      for (int i = 0; i < b && p < 0; ++i)
        if (!chosen[i]) p = i;
    if (p < 0) p = 0;  // unreachable for c < b
    chosen[p] = 1;
    pick = p;
  }
  __syncthreads();
  const int p = pick;
  for (const std::size_t j : block_range(f))
    centroids[std::size_t(c) * f + j] = x[std::size_t(p) * f + j];
  __syncthreads();  // pick is rewritten for the next centre
}

// The whole k-means++ seeding in one block: centre 0, then per centre c = 1 .. min(k, b) - 1 the
// distance pass over every chunk and the draw; centres c >= b (k > b) copy point 0.
__device__ __forceinline__ void seed_all(const float* __restrict__ x, int b, int f, int k,
                                         std::uint64_t seed, std::uint64_t rng_stream,
                                         float* centroids, float* dist, float* chunk_sums,
                                         int* chosen, State* state) {
  seed_first(x, b, f, seed, rng_stream, k, centroids, chosen, state);
  const int seeded = k < b ? k : b;
  const int chunks = (b + kChunk - 1) / kChunk;
  for (int c = 1; c < seeded; ++c) {
    __syncthreads();  // centre c - 1 (and, for c = 1, chosen) is written
    for (int chunk = 0; chunk < chunks; ++chunk)
      seed_distance_chunk(x, b, f, centroids + std::size_t(c - 1) * f, c == 1 ? 1 : 0, chunk, dist,
                          chunk_sums);
    __syncthreads();  // every chunk's D and sum is written
    seed_select(x, b, f, c, seed, rng_stream, dist, chunk_sums, chosen, centroids);
  }
  if (k > b)
    for (const std::size_t e : block_range(std::size_t(k - b) * f))
      centroids[std::size_t(b) * f + e] = x[e % f];
}

__global__ void __launch_bounds__(kBlock)
    seed_kernel(const float* __restrict__ x, int b, int f, int k, std::uint64_t seed,
                DeviceScalar<std::uint64_t> rng_stream, float* __restrict__ centroids,
                float* __restrict__ dist, float* __restrict__ chunk_sums, int* __restrict__ chosen,
                State* state) {
  seed_all(x, b, f, k, seed, rng_stream.get(), centroids, dist, chunk_sums, chosen, state);
}

// ---- assignment -----------------------------------------------------------------------------

// Tiles first_tile, first_tile + tile_step, ... of `tile_points` points against all k centroids,
// features staged kFeatTile at a time; each thread owns up to kPairsPerThread (point, centroid)
// pairs and accumulates them in feature order. Then one thread per point takes the argmin (ties
// to the lowest index). Returns whether this thread changed an assignment (never when initial).
// The whole block calls it; `smem` holds assign_smem_bytes(k, tile_points).
__device__ __forceinline__ int assign_tiles(const float* __restrict__ x, int b, int f, int k,
                                            int tile_points, const float* centroids,
                                            int* assignment, float* dist, bool initial,
                                            int first_tile, int tile_step, float* smem) {
  float* xs = smem;                              // tile_points x kTileStride
  float* cs = xs + tile_points * kTileStride;    // kFeatTile x k (feature-major)
  float* dsh = cs + std::size_t(k) * kFeatTile;  // tile_points x k
  const int tiles = (b + tile_points - 1) / tile_points;
  int pair_p[kPairsPerThread], pair_c[kPairsPerThread];
  for (int r = 0; r < kPairsPerThread; ++r) {
    const int q = static_cast<int>(threadIdx.x) + r * kAssignThreads;
    pair_p[r] = q / k;
    pair_c[r] = q % k;
  }
  int any_changed = 0;
  for (int tile = first_tile; tile < tiles; tile += tile_step) {
    const int base = tile * tile_points;
    const int np = b - base < tile_points ? b - base : tile_points;
    int pairs = 0;  // this thread's pairs in this tile: pair_p grows with r
    while (pairs < kPairsPerThread && pair_p[pairs] < np) ++pairs;
    float acc[kPairsPerThread];
    for (int r = 0; r < kPairsPerThread; ++r) acc[r] = 0.0f;
    for (int j0 = 0; j0 < f; j0 += kFeatTile) {
      const int fw = f - j0 < kFeatTile ? f - j0 : kFeatTile;
      __syncthreads();  // the previous tile has been used
      for (const std::size_t e : block_range(std::size_t(np) * kFeatTile)) {
        const int p = static_cast<int>(e / kFeatTile), j = static_cast<int>(e % kFeatTile);
        if (j < fw) xs[p * kTileStride + j] = x[std::size_t(base + p) * f + j0 + j];
      }
      for (const std::size_t e : block_range(std::size_t(k) * kFeatTile)) {
        const int c = static_cast<int>(e / kFeatTile), j = static_cast<int>(e % kFeatTile);
        if (j < fw) cs[j * k + c] = centroids[std::size_t(c) * f + j0 + j];
      }
      __syncthreads();
      // Feature-outer, pair-inner: each pair still accumulates in feature order, and the pairs'
      // independent chains overlap (a single fmaf chain is latency-bound on a CPU).
      for (int j = 0; j < fw; ++j) {
        const float* cj = cs + j * k;
        if constexpr (kAssignThreads == 1) {
          // One thread owns every pair r = p * k + c: the same sums, as a loop the CPU vectorises.
          for (int p = 0; p < np; ++p) {
            const float xv = xs[p * kTileStride + j];
            float* ap = acc + p * k;
            for (int c = 0; c < k; ++c) {
              const float d = xv - cj[c];
              ap[c] = fmaf(d, d, ap[c]);
            }
          }
        } else {
          for (int r = 0; r < pairs; ++r) {
            const float d = xs[pair_p[r] * kTileStride + j] - cj[pair_c[r]];
            acc[r] = fmaf(d, d, acc[r]);
          }
        }
      }
    }
    for (int r = 0; r < pairs; ++r) dsh[pair_p[r] * k + pair_c[r]] = acc[r];
    __syncthreads();
    for (const std::size_t p : block_range(np)) {
      const float* dr = dsh + p * k;
      int best = 0;
      float best_d = dr[0];
      for (int c = 1; c < k; ++c)
        if (dr[c] < best_d) {
          best_d = dr[c];
          best = c;
        }
      const std::size_t i = base + p;
      if (!initial && assignment[i] != best) any_changed = 1;
      assignment[i] = best;
      dist[i] = best_d;
    }
  }
  return any_changed;
}

__global__ void __launch_bounds__(kAssignThreads)
    assign_kernel(const float* __restrict__ x, int b, int f, int k, int tile_points,
                  const float* __restrict__ centroids, int* __restrict__ assignment,
                  float* __restrict__ dist, int iteration, State* state) {
  const bool initial = iteration == 0;
  if (!initial && state->converged) return;
  GQ_DYN_SHARED(float, smem);
  const int any_changed = assign_tiles(x, b, f, k, tile_points, centroids, assignment, dist,
                                       initial, blockIdx.x, gridDim.x, smem);
  if (any_changed) atomicOr(&state->changed, 1);
  // After a Lloyd iteration's assignment, its last block counts the iteration and converges if
  // nothing changed (a one-thread launch of its own before). Atomics read and write the state:
  // other blocks changed it, and this block's L1 may hold the line from the gate above.
  if (!initial && last_block_done(&state->done) && threadIdx.x == 0) {
    atomicExch(&state->iterations, iteration);
    if (atomicExch(&state->changed, 0) == 0) atomicExch(&state->converged, 1);
  }
}

// ---- centroid update ------------------------------------------------------------------------

// Every empty cluster (ascending) takes the unused point of largest assignment distance (ties to
// the lowest index); a used point's distance becomes -1. One block (sort_kernel's epilogue); the
// sizes were written by the other blocks of that launch, so they are read volatile (past L1).
__device__ __forceinline__ void reseed_block(const float* __restrict__ x, int b, int f, int k,
                                             const volatile int* sizes, float* dist,
                                             float* centroids) {
  __shared__ long long pick;
  for (int c = 0; c < k; ++c) {
    if (sizes[c] != 0) continue;  // uniform across the block
    ValueIndex best{-INFINITY, kNoIndex};
    for (const std::size_t i : block_range(b))
      best = better_of(best, ValueIndex{dist[i], static_cast<long long>(i)});
    best = block_argmax<kBlock>(best);
    if (threadIdx.x == 0) pick = best.value >= 0.0f ? best.index : -1;
    __syncthreads();
    const long long p = pick;
    if (p >= 0)
      for (const std::size_t j : block_range(f))
        centroids[std::size_t(c) * f + j] = x[std::size_t(p) * f + j];
    __syncthreads();  // everyone has read pick and dist
    if (threadIdx.x == 0 && p >= 0) dist[p] = -1.0f;
    __syncthreads();
  }
}

// Stable counting sort of cluster c (the whole block): offset = #points with a smaller cluster
// id, size = #points in c, then c's members are written in ascending index order.
__device__ __forceinline__ void sort_cluster(const int* assignment, int b, int k, int c, int* sizes,
                                             int* offsets, int* order) {
  int below = 0, mine = 0;
  for (const std::size_t i : block_range(b)) {
    const int a = assignment[i];
    below += a < c;
    mine += a == c;
  }
  below = block_sum_int<kBlock>(below);
  mine = block_sum_int<kBlock>(mine);
  if (threadIdx.x == 0) {
    offsets[c] = below;
    sizes[c] = mine;
    if (c == k - 1) offsets[k] = b;
  }
  int running = below;
  for (int first = 0; first < b; first += kBlock) {
    const int i = first + static_cast<int>(threadIdx.x);
    const int flag = i < b && assignment[i] == c;
    int count;
    const int before = block_exclusive_scan_flag<kBlock>(flag, &count);
    if (flag) order[running + before] = i;
    running += count;
  }
}

// One block per cluster. In a Lloyd iteration (lloyd = 1: gated by convergence) the last block
// to finish then re-seeds the empty clusters (a one-block launch of its own before); the final
// sort (lloyd = 0) does not.
__global__ void __launch_bounds__(kBlock)
    sort_kernel(const int* __restrict__ assignment, int b, int k, int* __restrict__ sizes,
                int* __restrict__ offsets, int* __restrict__ order, int lloyd, State* state,
                const float* __restrict__ x, int f, float* __restrict__ dist,
                float* __restrict__ centroids) {
  if (lloyd && gated(state)) return;
  sort_cluster(assignment, b, k, blockIdx.x, sizes, offsets, order);
  if (lloyd && last_block_done(&state->done)) reseed_block(x, b, f, k, sizes, dist, centroids);
}

// Centroid features j0, j0 + STRIDE, ..., j0 + (WIDTH - 1) * STRIDE (those < f) of cluster c =
// its members' rows summed in ascending index, / size; an empty cluster keeps its row. One thread.
template <int WIDTH, int STRIDE>
__device__ __forceinline__ void update_features(const float* __restrict__ x, int f, int c,
                                                const int* sizes, const int* offsets,
                                                const int* order, float* centroids, int j0) {
  const int n = sizes[c];
  if (n == 0) return;
  const int first = offsets[c];
  float acc[WIDTH];
  for (int w = 0; w < WIDTH; ++w) acc[w] = 0.0f;
  for (int m = 0; m < n; ++m) {
    const float* row = x + std::size_t(order[first + m]) * f;
    for (int w = 0; w < WIDTH; ++w) {
      const int j = j0 + w * STRIDE;
      if (j < f) acc[w] += row[j];
    }
  }
  const float count = static_cast<float>(n);
  for (int w = 0; w < WIDTH; ++w) {
    const int j = j0 + w * STRIDE;
    if (j < f) centroids[std::size_t(c) * f + j] = acc[w] / count;
  }
}

// Grid (k, feature slices); each thread owns kUpdateWidth features of the slice.
__global__ void __launch_bounds__(kUpdateThreads)
    update_kernel(const float* __restrict__ x, int f, const int* __restrict__ sizes,
                  const int* __restrict__ offsets, const int* __restrict__ order,
                  float* __restrict__ centroids, const State* gate) {
  if (gated(gate)) return;
  update_features<kUpdateWidth, kUpdateThreads>(
      x, f, blockIdx.x, sizes, offsets, order, centroids,
      blockIdx.y * kUpdateSlice + static_cast<int>(threadIdx.x));
}

// One thread.
__device__ __forceinline__ void finalize(const int* sizes, int k, const State* state,
                                         KMeansResult* result) {
  int nonempty = 0;
  for (int c = 0; c < k; ++c) nonempty += sizes[c] > 0;
  result->iterations = state->iterations;
  result->converged = state->converged;
  result->k_effective = nonempty;
}

__global__ void finalize_kernel(const int* __restrict__ sizes, int k, const State* state,
                                KMeansResult* result) {
  finalize(sizes, k, state, result);
}

// ---- all of k-means in one cooperative launch ------------------------------------------------
// The phases above in the same order with the same per-element arithmetic, so the same bits as
// the per-phase launches, at any grid size: a grid sync replaces each launch boundary, block 0
// does the one-block parts (seeding, re-seeding, the bookkeeping), and the other phases spread
// their items (tiles, clusters, (cluster, feature slice)) over the blocks. Arrays written here
// are read through plain pointers: a read-only (non-coherent) load could see another block's
// stale data across a grid sync. Smem: assign_smem_bytes(k, tile_points).
struct FusedArgs {
  const float* x;
  int b, f, k, max_iters, tile_points;
  std::uint64_t seed;
  DeviceScalar<std::uint64_t> rng_stream;
  float* centroids;
  int* assignment;
  Scratch s;
  int *sizes, *offsets, *order;
  KMeansResult* result;
};

constexpr int kFusedSlice = kBlock * kUpdateWidth;  // features per (cluster, slice) update item

__device__ __forceinline__ void sort_clusters(const FusedArgs& a) {
  for (int c = blockIdx.x; c < a.k; c += gridDim.x)
    sort_cluster(a.assignment, a.b, a.k, c, a.sizes, a.offsets, a.order);
  grid_sync();  // sizes, offsets and order are complete
}

__device__ __forceinline__ void update_clusters(const FusedArgs& a) {
  const int slices = (a.f + kFusedSlice - 1) / kFusedSlice;
  for (int item = blockIdx.x; item < a.k * slices; item += gridDim.x)
    update_features<kUpdateWidth, kBlock>(
        a.x, a.f, item / slices, a.sizes, a.offsets, a.order, a.centroids,
        item % slices * kFusedSlice + static_cast<int>(threadIdx.x));
  grid_sync();  // the centroids are complete
}

__global__ void __launch_bounds__(kBlock) fused_kernel(FusedArgs a) {
  GQ_DYN_SHARED(float, smem);
  volatile State* state = a.s.state;
  if (blockIdx.x == 0) {
    seed_all(a.x, a.b, a.f, a.k, a.seed, a.rng_stream.get(), a.centroids, a.s.dist, a.s.chunk_sums,
             a.s.chosen, a.s.state);
  }
  grid_sync();  // the centres are complete
  assign_tiles(a.x, a.b, a.f, a.k, a.tile_points, a.centroids, a.assignment, a.s.dist, true,
               blockIdx.x, gridDim.x, smem);
  grid_sync();  // the assignment is complete
  for (int it = 1; a.k > 1 && it <= a.max_iters; ++it) {
    sort_clusters(a);
    bool empty = false;  // the same answer in every block: sizes are complete
    for (int c = 0; c < a.k; ++c) empty = empty || a.sizes[c] == 0;
    if (empty) {
      if (blockIdx.x == 0) reseed_block(a.x, a.b, a.f, a.k, a.sizes, a.s.dist, a.centroids);
      grid_sync();
    }
    update_clusters(a);
    const int mine = assign_tiles(a.x, a.b, a.f, a.k, a.tile_points, a.centroids, a.assignment,
                                  a.s.dist, false, blockIdx.x, gridDim.x, smem);
    // Iteration it raises `changed` and iteration it + 1 `changed_next` (the two swap roles):
    // block 0 clears the next iteration's flag while the others may still read this one's.
    volatile int* flag = it % 2 ? &state->changed : &state->changed_next;
    volatile int* next = it % 2 ? &state->changed_next : &state->changed;
    if (block_sum_int<kBlock>(mine) != 0 && threadIdx.x == 0) atomicOr(const_cast<int*>(flag), 1);
    grid_sync();  // the assignment and the flag are complete
    const bool changed = *flag != 0;
    if (blockIdx.x == 0 && threadIdx.x == 0) {
      *next = 0;
      state->iterations = it;
      if (!changed) state->converged = 1;
    }
    if (!changed) break;  // the same in every block
  }
  sort_clusters(a);
  update_clusters(a);
  if (blockIdx.x == 0 && threadIdx.x == 0) finalize(a.sizes, a.k, a.s.state, a.result);
}

// ---- L2 normalisation -----------------------------------------------------------------------

// y = x / max(||x||, 1e-12) row by row; y may be x.
__global__ void __launch_bounds__(kBlock)
    l2_normalize_kernel(const float* x, float* y, int rows, int cols) {
  __shared__ float scale;
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* row = x + std::size_t(r) * cols;
    float* out = y + std::size_t(r) * cols;
    float acc = 0.0f;
    for (const std::size_t j : block_range(cols)) acc = fmaf(row[j], row[j], acc);
    acc = block_sum<kBlock>(acc);
    if (threadIdx.x == 0) scale = fmaxf(sqrtf(acc), 1e-12f);
    __syncthreads();
    const float s = scale;
    for (const std::size_t j : block_range(cols)) out[j] = row[j] / s;
    __syncthreads();  // scale is rewritten for the next row
  }
}

int assign_tile_points(int k) {
  const int pairs = kAssignThreads * kPairsPerThread;
  return std::max(1, std::min(kMaxTilePoints, pairs / k));
}

std::size_t assign_smem_bytes(int k, int tile_points) {
  return sizeof(float) * (std::size_t(tile_points) * kTileStride + std::size_t(k) * kFeatTile +
                          std::size_t(tile_points) * k);
}

// The fused kernel's grid for tiles of `tile_points` points.
unsigned kmeans_fused_grid(int b, int f, int k, int tile_points, int blocks) {
  const unsigned limit = kmeans_fused_blocks_limit(k);
  if (blocks > 0) {
    GQ_CHECK(static_cast<unsigned>(blocks) <= limit,
             "kmeans: {} cooperative blocks requested, at most {} fit on the device at once",
             blocks, limit);
    return static_cast<unsigned>(blocks);
  }
  // One block per SM (emulator: worker) at most, and no more than the widest phase has items.
  const int tiles = (b + tile_points - 1) / tile_points;
  const int items = std::max({tiles, k * ((f + kFusedSlice - 1) / kFusedSlice), 1});
  return std::min(
      {limit, static_cast<unsigned>(device_info().sm_count), static_cast<unsigned>(items)});
}

}  // namespace

std::size_t kmeans_scratch_bytes(int b, int f, int k) {
  GQ_CHECK(b >= 1 && f >= 1 && k >= 1, "kmeans_scratch_bytes: need b, f, k >= 1, got {}, {}, {}", b,
           f, k);
  return aligned(sizeof(State)) + aligned(sizeof(float) * b) +
         aligned(sizeof(float) * chunks_of(b)) + aligned(sizeof(int) * b);
}

unsigned kmeans_fused_blocks_limit(int k) {
  GQ_CHECK(k >= 1 && k <= kKMeansMaxClusters,
           "kmeans_fused_blocks_limit: k must be in [1, {}], got {}", kKMeansMaxClusters, k);
  return cooperative_blocks_limit(fused_kernel, kBlock,
                                  assign_smem_bytes(k, assign_tile_points(k)));
}

void kmeans(TensorView view, const KMeansOptions& options, const KMeansOutputs& out, void* scratch,
            stream_t stream) {
  GQ_CHECK(view.shape.rank == 2, "kmeans: points must be a [b, f] matrix, got {}",
           view.shape.str());
  const int b = static_cast<int>(view.shape[0]), f = static_cast<int>(view.shape[1]);
  const int k = options.k, max_iters = options.max_iters;
  GQ_CHECK(b >= 1 && f >= 1, "kmeans: need b >= 1 points of f >= 1 features, got b={} f={}", b, f);
  GQ_CHECK(k >= 1 && k <= kKMeansMaxClusters, "kmeans: k must be in [1, {}], got {}",
           kKMeansMaxClusters, k);
  GQ_CHECK(max_iters >= 0, "kmeans: max_iters must be >= 0, got {}", max_iters);
  GQ_CHECK(static_cast<long long>(b) * f <= INT_MAX, "kmeans: b*f = {} exceeds int range",
           static_cast<long long>(b) * f);
  GQ_CHECK(out.clustering.k == k && out.clustering.b == b,
           "kmeans: the output clustering is for k={} b={}, the run for k={} b={}",
           out.clustering.k, out.clustering.b, k, b);
  const float* points = view.data;
  const std::uint64_t seed = options.seed;
  const DeviceScalar<std::uint64_t> rng_stream = options.rng_stream;
  int* assignment = out.assignment;
  float* centroids = out.centroids;
  int *sizes = out.clustering.sizes, *order = out.clustering.order,
      *offsets = out.clustering.offsets;
  KMeansResult* result = out.result;
  GQ_CHECK(points && assignment && centroids && sizes && order && offsets && result && scratch,
           "kmeans: null pointer argument");
  const Scratch s = carve(scratch, b);

  const int tile_points = assign_tile_points(k);
  const std::size_t assign_smem = assign_smem_bytes(k, tile_points);
  if (options.plan != KMeansPlan::per_phase) {
    const FusedArgs args{points,    b,          f, k,     max_iters, tile_points, seed,  rng_stream,
                         centroids, assignment, s, sizes, offsets,   order,       result};
    const unsigned grid = kmeans_fused_grid(b, f, k, tile_points, options.fused_blocks);
    launch_cooperative(fused_kernel, grid, kBlock, assign_smem, stream, args);
    return;
  }

  // Seeding: one launch whatever k is.
  launch(seed_kernel, 1, kBlock, 0, stream, points, b, f, k, seed, rng_stream, centroids, s.dist,
         s.chunk_sums, s.chosen, s.state);

  // Initial assignment, then Lloyd iterations gated by the device-side flag.
  const int tiles = (b + tile_points - 1) / tile_points;
  const unsigned assign_grid = grid_stride_blocks(tiles, 1, kEmulatorShapes ? 4 : 8);
  auto assign = [&](int iteration) {  // 0: the initial assignment
    launch(assign_kernel, assign_grid, kAssignThreads, assign_smem, stream, points, b, f, k,
           tile_points, centroids, assignment, s.dist, iteration, s.state);
  };
  const dim3 update_grid(k, (f + kUpdateSlice - 1) / kUpdateSlice);
  assign(0);
  if (k > 1) {
    for (int it = 1; it <= max_iters; ++it) {  // 3 launches per iteration
      launch(sort_kernel, k, kBlock, 0, stream, assignment, b, k, sizes, offsets, order, 1, s.state,
             points, f, s.dist, centroids);  // + re-seed
      launch(update_kernel, update_grid, kUpdateThreads, 0, stream, points, f,
             static_cast<const int*>(sizes), static_cast<const int*>(offsets),
             static_cast<const int*>(order), centroids, static_cast<const State*>(s.state));
      assign(it);  // + the iteration's bookkeeping
    }
  }
  // The outputs describe the final assignment.
  const State* none = nullptr;
  launch(sort_kernel, k, kBlock, 0, stream, assignment, b, k, sizes, offsets, order, 0, s.state,
         points, f, s.dist, centroids);
  launch(update_kernel, update_grid, kUpdateThreads, 0, stream, points, f,
         static_cast<const int*>(sizes), static_cast<const int*>(offsets),
         static_cast<const int*>(order), centroids, none);
  launch(finalize_kernel, 1, 1, 0, stream, static_cast<const int*>(sizes), k,
         static_cast<const State*>(s.state), result);
}

void l2_normalize_rows(const float* x, float* y, int rows, int cols, stream_t stream) {
  GQ_CHECK(rows >= 0 && cols >= 0, "l2_normalize_rows: need rows, cols >= 0, got {} x {}", rows,
           cols);
  if (rows == 0 || cols == 0) return;
  GQ_CHECK(x != nullptr && y != nullptr, "l2_normalize_rows: x or y is null");
  const unsigned grid = grid_stride_blocks(rows, 1, kEmulatorShapes ? 4 : 8);
  launch(l2_normalize_kernel, grid, kBlock, 0, stream, x, y, rows, cols);
}

void l2_normalize_rows(float* x, int rows, int cols, stream_t stream) {
  l2_normalize_rows(x, x, rows, cols, stream);
}

}  // namespace gq::kernels
