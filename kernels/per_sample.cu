// Per-sample and per-cluster weight gradients of Linear and Conv2d layers (kernels/per_sample.h).
//
// Kernels and launch shapes:
//  - outer_kernel (Linear per-sample gw = dy_i ⊗ x_i): grid-stride map over b*out*in outputs.
//  - row_dot_kernel (squared norms: sum a*b over a row, plus an optional second pair): one block of
//    kRowBlock threads per row, block_range shares, block_sum (fixed tree). kRowBlock is 1 on the
//    emulator, where each barrier costs every thread ~50 ns and one fiber looping over a
//    contiguous row is fastest.
//  - linear_sq_norms_kernel: the same shape, one block per sample.
//  - row_sums_kernel (per-sample conv bias gradients): grid-stride, one thread per row of L.
//  - segment_mean_rows_kernel (per-cluster bias): one thread per (cluster, channel), summing the
//    cluster's samples in order.
//  - gather_rows_kernel (library paths): one row per blockIdx.y, copied by the blocks along x
//    (GPU: 256 threads, up to 64 blocks per row; emulator: one fiber per row).
//  - gather_dy_rows_kernel (library path, Conv2d): grid-stride, one thread per (kout, sample) row
//    of L, building dy of a chunk as one [kout, count*L] matrix.
//  - scale_by_cluster_kernel (library_conv path): grid-stride map, gw_c *= 1/n_c.
//  - segmented_wgrad_kernel (the segmented per-cluster path): a tiled GEMM, one block per
//    (BN x BM output tile, piece of a cluster). Each cluster's reduction range (its samples, times
//    the positions for Conv2d) is split into pieces of a fixed length chosen from the shape so
//    that the launch has >= 2 x 132 blocks even for layers with few output tiles; the block finds
//    its (cluster, piece) from the device offsets, walks its t range loading BK-deep slices of
//    A = dy (gathered by order) and B = x (gathered by order; for Conv2d an implicit im2col) into
//    shared memory; each thread keeps a TM x TN register tile. A cluster in one piece is written
//    scaled; otherwise piece 0 goes to gw_c and the others to scratch slots, and
//    combine_pieces_kernel (grid: blocks over out*in x k) adds them in piece order and scales.
//    GPU: 64x64 tiles, 256 threads, 4x4 per thread. Emulator: one thread per 32x32 tile (no
//    barriers cost, vectorisable inner loop) and no split.
// Host side of the library paths: blas::gemm per cluster (chunk) over im2col + gathered dy rows,
// or (library_conv) dnn::Conv2d::backward_filter over the cluster-ordered batch in pieces of 32,
// 16, ..., 1 samples with one cached plan per piece size and shape.
// Memory traffic: the per-sample outputs are written once (b*out*in or b*k*c*r*s floats); the
// segmented kernel reads each x / dy element once per output tile that needs it (the split adds
// one write and read of out*in floats per extra piece, <= 2 x 132 / tiles of them); the library
// path writes and reads one im2col copy of the batch (chunked for Conv2d); library_conv one
// gathered copy of x and dy.
// Every output is accumulated in a fixed order (no atomics): results are bit-reproducible for a
// shape and device. Multiply-adds are written as fmaf so nvcc's contraction cannot make the two
// devices differ in the hand-written kernels.
#include "kernels/per_sample.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "kernels/block_reduce.cuh"
#include "kernels/im2col.h"
#include "runtime/blas.h"
#include "runtime/dnn.h"
#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/memory.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;
constexpr int kRowBlock = kEmulatorShapes ? 1 : 256;
constexpr std::size_t kIndexLimit = std::size_t{1} << 32;

// ---- Small maps and reductions ----------------------------------------------------------------

__global__ void __launch_bounds__(kBlock)
    outer_kernel(const float* __restrict__ x, const float* __restrict__ dy, std::size_t total,
                 FastDivmod in_div, int out, float* __restrict__ gw) {
  const std::size_t in = in_div.divisor();
  for (const std::size_t e : grid_range(total)) {
    std::uint32_t row, p;  // row = i * out + o
    in_div.divmod(static_cast<std::uint32_t>(e), row, p);
    const std::uint32_t i = row / static_cast<std::uint32_t>(out);
    gw[e] = dy[row] * x[i * in + p];
  }
}

// out[i] = sum_j a[i*len + j] * b[i*len + j] (+ the same over a2, b2 with len2 when a2 != null).
__global__ void __launch_bounds__(kRowBlock)
    row_dot_kernel(const float* __restrict__ a, const float* __restrict__ b, std::size_t len,
                   const float* __restrict__ a2, const float* __restrict__ b2, std::size_t len2,
                   float* __restrict__ out) {
  const std::size_t i = blockIdx.x;
  const float* ai = a + i * len;
  const float* bi = b + i * len;
  float acc = 0.0f;
  for (const std::size_t j : block_range(len)) acc = fmaf(ai[j], bi[j], acc);
  acc = block_sum<kRowBlock>(acc);
  float acc2 = 0.0f;
  if (a2 != nullptr) {
    const float* a2i = a2 + i * len2;
    const float* b2i = b2 + i * len2;
    for (const std::size_t j : block_range(len2)) acc2 = fmaf(a2i[j], b2i[j], acc2);
  }
  acc2 = block_sum<kRowBlock>(acc2);
  if (threadIdx.x == 0) out[i] = acc + acc2;
}

// sq[i] = ||dy_i||^2 * ||x_i||^2 (+ ||dy_i||^2 with the bias).
__global__ void __launch_bounds__(kRowBlock)
    linear_sq_norms_kernel(const float* __restrict__ x, const float* __restrict__ dy, int in,
                           int out, bool with_bias, float* __restrict__ sq) {
  const std::size_t i = blockIdx.x;
  const float* xi = x + i * in;
  const float* dyi = dy + i * out;
  float sx = 0.0f, sd = 0.0f;
  for (const std::size_t j : block_range(static_cast<std::size_t>(in))) sx = fmaf(xi[j], xi[j], sx);
  for (const std::size_t j : block_range(static_cast<std::size_t>(out)))
    sd = fmaf(dyi[j], dyi[j], sd);
  sx = block_sum<kRowBlock>(sx);
  sd = block_sum<kRowBlock>(sd);
  if (threadIdx.x == 0) sq[i] = with_bias ? fmaf(sd, sx, sd) : sd * sx;
}

// sums[r] = sum_j a[r*len + j], in order.
__global__ void __launch_bounds__(kBlock)
    row_sums_kernel(const float* __restrict__ a, std::size_t rows, int len,
                    float* __restrict__ sums) {
  for (const std::size_t r : grid_range(rows)) {
    const float* ar = a + r * len;
    float acc = 0.0f;
    for (int j = 0; j < len; ++j) acc += ar[j];
    sums[r] = acc;
  }
}

// out[c*width + o] = (1/n_c) sum over j in cluster c (in order) of rows[order[j]*width + o].
__global__ void __launch_bounds__(kBlock)
    segment_mean_rows_kernel(const float* __restrict__ rows, int width,
                             const int* __restrict__ order, const int* __restrict__ offsets, int k,
                             float* __restrict__ out) {
  for (const std::size_t e : grid_range(static_cast<std::size_t>(k) * width)) {
    const int c = static_cast<int>(e / width), o = static_cast<int>(e % width);
    const int first = offsets[c], last = offsets[c + 1];
    float acc = 0.0f;
    for (int j = first; j < last; ++j) acc += rows[static_cast<std::size_t>(order[j]) * width + o];
    out[e] = last > first ? acc / static_cast<float>(last - first) : 0.0f;
  }
}

// dst[j*width + p] = src[order[j]*width + p]: row j = blockIdx.y, shared by the blockIdx.x
// blocks. GPU: kGatherBlock threads per block, a few blocks per row (coalesced copies). Emulator:
// one fiber copies one whole row (a sequential copy; no per-element index math).
constexpr unsigned kGatherBlock = kEmulatorShapes ? 1 : 256;

__global__ void __launch_bounds__(kGatherBlock)
    gather_rows_kernel(const float* __restrict__ src, const int* __restrict__ order,
                       std::size_t width, float* __restrict__ dst) {
  const std::size_t j = blockIdx.y;
  const float* in = src + static_cast<std::size_t>(order[j]) * width;
  float* out = dst + j * width;
  for (const std::size_t e : thread_share(width, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                                          std::size_t{gridDim.x} * blockDim.x))
    out[e] = in[e];
}

void gather_rows(const float* src, const int* order, int count, std::size_t width, float* dst,
                 stream_t stream) {
  GQ_CHECK(count <= 65535, "per-cluster library path: b = {} exceeds 65535 rows", count);
  const std::size_t blocks = kEmulatorShapes ? 1 : std::min<std::size_t>((width + 255) / 256, 64);
  launch(gather_rows_kernel, dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(count)),
         dim3(kGatherBlock), 0, stream, src, order, width, dst);
}

// dyg[o*(count*L) + j*L + l] = dy[(order[first + j]*kout + o)*L + l] for j < count: dy of the
// gathered samples as one [kout, count*L] matrix. One thread per (o, j) row of L floats.
__global__ void __launch_bounds__(kBlock)
    gather_dy_rows_kernel(const float* __restrict__ dy, const int* __restrict__ order, int first,
                          std::size_t rows, FastDivmod count_div, int kout, int L,
                          float* __restrict__ dyg) {
  for (const std::size_t row : grid_range(rows)) {
    std::uint32_t o, j;
    count_div.divmod(static_cast<std::uint32_t>(row), o, j);
    const std::size_t src = static_cast<std::size_t>(order[first + static_cast<int>(j)]);
    const float* in = dy + (src * kout + o) * L;
    float* out = dyg + row * L;
    for (int l = 0; l < L; ++l) out[l] = in[l];
  }
}

// ---- Segmented per-cluster weight gradient ----------------------------------------------------

// gw_c[m, n] = (1/n_c) sum_t A(m, t) B(n, t) over the cluster's reduction range.
// Linear: t = sample slot j, A(m, t) = dy[order[j], m], B(n, t) = x[order[j], n].
// Conv2d: t = (j, l), A(m, t) = dy[order[j], m, l], B(n, t) = unfold(x[order[j]])[l, n].
struct SegArgs {
  int M, N;              // output rows (out / k channels) and columns (in / c*r*s)
  FastDivmod positions;  // L (1 for Linear)
  FastDivmod out_w, rs, s;
  int c, h, w, stride_h, stride_w, pad_h, pad_w;
};

template <bool kConv>
__device__ __forceinline__ float load_a(const SegArgs& a, const float* __restrict__ dy,
                                        const int* __restrict__ order, std::size_t t, int m) {
  if constexpr (!kConv) {
    return dy[static_cast<std::size_t>(order[t]) * a.M + m];
  } else {
    std::uint32_t j, l;
    a.positions.divmod(static_cast<std::uint32_t>(t), j, l);
    return dy[(static_cast<std::size_t>(order[j]) * a.M + m) * a.positions.divisor() + l];
  }
}

template <bool kConv>
__device__ __forceinline__ float load_b(const SegArgs& a, const float* __restrict__ x,
                                        const int* __restrict__ order, std::size_t t, int n) {
  if constexpr (!kConv) {
    return x[static_cast<std::size_t>(order[t]) * a.N + n];
  } else {
    std::uint32_t j, l, oh, ow, ch, q, rr, ss;
    a.positions.divmod(static_cast<std::uint32_t>(t), j, l);
    a.out_w.divmod(l, oh, ow);
    a.rs.divmod(static_cast<std::uint32_t>(n), ch, q);
    a.s.divmod(q, rr, ss);
    const int ih = static_cast<int>(oh) * a.stride_h - a.pad_h + static_cast<int>(rr);
    const int iw = static_cast<int>(ow) * a.stride_w - a.pad_w + static_cast<int>(ss);
    if (ih < 0 || ih >= a.h || iw < 0 || iw >= a.w) return 0.0f;
    return x[((static_cast<std::size_t>(order[j]) * a.c + ch) * a.h + ih) * a.w + iw];
  }
}

// The split reduction. A cluster's reduction range is cut into pieces of `piece` values of t
// (the last one shorter); an empty cluster has one empty piece. Piece g of the launch (blockIdx.z)
// is piece q of cluster c, numbering the clusters' pieces in order. A cluster with one piece writes
// its scaled mean straight to gw_c; otherwise piece 0 writes its raw sum to gw_c, piece q >= 1 to
// partial slot base_c + q - 1 (base_c = the sum over earlier clusters of their pieces - 1), and
// combine_pieces_kernel adds the slots to gw_c in order and scales. Pieces and slots depend on the
// offsets and `piece` only, so the sums keep a fixed order. Totals: pieces <= t_total / piece + k,
// slots <= t_total / piece.
struct PieceOf {
  int cluster, q, pieces, slot;  // cluster -1: g is past the last piece
};

__device__ __forceinline__ int pieces_of(const int* __restrict__ offsets, int c, std::size_t L,
                                         std::size_t piece) {
  const std::size_t len = static_cast<std::size_t>(offsets[c + 1] - offsets[c]) * L;
  return len == 0 ? 1 : static_cast<int>((len + piece - 1) / piece);
}

__device__ PieceOf find_piece(const int* __restrict__ offsets, int k, std::size_t L,
                              std::size_t piece, int g) {
  for (int c = 0, base = 0; c < k; ++c) {
    const int n = pieces_of(offsets, c, L, piece);
    if (g < n) return PieceOf{c, g, n, base + g - 1};
    g -= n;
    base += n - 1;
  }
  return PieceOf{-1, 0, 0, 0};
}

template <int BM, int BN, int BK, int TM, int TN, bool kConv>
__global__ void __launch_bounds__((BM / TM) * (BN / TN))
    segmented_wgrad_kernel(SegArgs a, const float* __restrict__ x, const float* __restrict__ dy,
                           const int* __restrict__ order, const int* __restrict__ offsets, int k,
                           std::size_t piece, float* __restrict__ gw,
                           float* __restrict__ partials) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  // +1: the conv loads write along kk, which would otherwise hit one shared-memory bank.
  __shared__ float as[BK][BM + 1];
  __shared__ float bs[BK][BN + 1];
  __shared__ PieceOf mine;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % (BN / TN), ty = tid / (BN / TN);
  const std::size_t L = a.positions.divisor();
  if (tid == 0) mine = find_piece(offsets, k, L, piece, static_cast<int>(blockIdx.z));
  __syncthreads();
  const PieceOf p = mine;
  if (p.cluster < 0) return;  // the launch covers the most pieces any clustering can have
  const int m0 = static_cast<int>(blockIdx.y) * BM, n0 = static_cast<int>(blockIdx.x) * BN;
  const int first = offsets[p.cluster], last = offsets[p.cluster + 1];
  const std::size_t t_first = static_cast<std::size_t>(first) * L + p.q * piece;
  const std::size_t t_last =
      std::min(static_cast<std::size_t>(last) * L, t_first + piece);

  float acc[TM][TN];
  for (int i = 0; i < TM; ++i)
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  for (std::size_t t0 = t_first; t0 < t_last; t0 += BK) {
    // Conv: consecutive threads take consecutive positions (contiguous dy / x reads); Linear:
    // consecutive output rows / columns (contiguous within a sample's row).
    for (int idx = tid; idx < BK * BM; idx += kThreads) {
      const int kk = kConv ? idx % BK : idx / BM, mm = kConv ? idx / BK : idx % BM;
      const std::size_t t = t0 + kk;
      const int m = m0 + mm;
      as[kk][mm] = t < t_last && m < a.M ? load_a<kConv>(a, dy, order, t, m) : 0.0f;
    }
    for (int idx = tid; idx < BK * BN; idx += kThreads) {
      const int kk = kConv ? idx % BK : idx / BN, nn = kConv ? idx / BK : idx % BN;
      const std::size_t t = t0 + kk;
      const int n = n0 + nn;
      bs[kk][nn] = t < t_last && n < a.N ? load_b<kConv>(a, x, order, t, n) : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < BK; ++kk) {
      float av[TM], bv[TN];
      for (int i = 0; i < TM; ++i) av[i] = as[kk][ty * TM + i];
      for (int j = 0; j < TN; ++j) bv[j] = bs[kk][tx * TN + j];
      for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }

  const std::size_t w_elems = static_cast<std::size_t>(a.M) * a.N;
  const bool whole = p.pieces == 1;
  const float scale = !whole ? 1.0f : last > first ? 1.0f / static_cast<float>(last - first) : 0.0f;
  float* out = p.q == 0 ? gw + static_cast<std::size_t>(p.cluster) * w_elems
                        : partials + static_cast<std::size_t>(p.slot) * w_elems;
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + ty * TM + i;
    if (m >= a.M) break;
    for (int j = 0; j < TN; ++j) {
      const int n = n0 + tx * TN + j;
      if (n < a.N) out[static_cast<std::size_t>(m) * a.N + n] = acc[i][j] * scale;
    }
  }
}

// gw_c = (gw_c + slots of c's pieces 1.., in order) / n_c for every cluster cut into pieces.
// Grid (blocks over w_elems, k); thread 0 finds the cluster's slots.
__global__ void __launch_bounds__(kBlock)
    combine_pieces_kernel(const int* __restrict__ offsets, std::size_t L, std::size_t piece,
                          std::size_t w_elems, const float* __restrict__ partials,
                          float* __restrict__ gw) {
  __shared__ int slot, pieces;
  const int c = static_cast<int>(blockIdx.y);
  if (threadIdx.x == 0) {
    int base = 0;
    for (int d = 0; d < c; ++d) base += pieces_of(offsets, d, L, piece) - 1;
    slot = base;
    pieces = pieces_of(offsets, c, L, piece);
  }
  __syncthreads();
  if (pieces == 1) return;  // written whole by its one block
  const float scale = 1.0f / static_cast<float>(offsets[c + 1] - offsets[c]);
  float* g = gw + static_cast<std::size_t>(c) * w_elems;
  for (const std::size_t e : thread_share(w_elems, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                                          std::size_t{gridDim.x} * blockDim.x)) {
    float acc = g[e];
    for (int q = 1; q < pieces; ++q) acc += partials[(static_cast<std::size_t>(slot) + q - 1) * w_elems + e];
    g[e] = acc * scale;
  }
}

// GPU: 64x64 tiles, 16 deep, 256 threads with 4x4 register tiles. Emulator: one fiber per 32x32
// tile (a barrier would cost every thread ~50 ns; one thread's loops vectorise).
struct SegTile {
  static constexpr int BM = kEmulatorShapes ? 32 : 64, BN = BM, BK = kEmulatorShapes ? 32 : 16;
  static constexpr int TM = kEmulatorShapes ? 32 : 4, TN = TM;
  static constexpr int kThreads = (BM / TM) * (BN / TN);
};

// Blocks the split aims for: two per SM of an H100/H200 (132 SMs). A constant rather than the
// device's SM count, so the pieces, and so the rounding, depend on the shapes only. The emulator's
// shapes do not split (its blocks are single threads; the automatic path there is a library one).
constexpr std::size_t kSegmentedTargetBlocks = 2 * 132;

// The launch of the segmented kernel for an M x N output over t_total = b * L values of t.
struct SegPlan {
  std::size_t tiles_x, tiles_y, piece, max_pieces, slots;
  std::size_t blocks() const { return tiles_x * tiles_y * max_pieces; }
};

SegPlan seg_plan(int M, int N, std::size_t t_total, int k) {
  using T = SegTile;
  SegPlan p{(static_cast<std::size_t>(N) + T::BN - 1) / T::BN,
            (static_cast<std::size_t>(M) + T::BM - 1) / T::BM, t_total, 0, 0};
  const std::size_t tiles = p.tiles_x * p.tiles_y;
  const std::size_t want = (kSegmentedTargetBlocks + tiles - 1) / tiles;  // pieces over the batch
  if (!kEmulatorShapes && want > 1) p.piece = std::max<std::size_t>(1, t_total / want);
  p.slots = p.piece < t_total ? t_total / p.piece : 0;
  p.max_pieces = t_total / p.piece + static_cast<std::size_t>(k);
  GQ_CHECK(p.max_pieces <= 65535, "segmented per-cluster gradient: {} pieces exceed a grid's z "
           "limit of 65535 (k = {})", p.max_pieces, k);
  return p;
}

template <bool kConv>
void launch_segmented(const SegArgs& a, std::size_t t_total, const float* x, const float* dy,
                      const int* order, const int* offsets, int k, float* gw, float* partials,
                      stream_t stream) {
  using T = SegTile;
  const SegPlan p = seg_plan(a.M, a.N, t_total, k);
  GQ_CHECK(p.slots == 0 || partials, "segmented per-cluster gradient: the split needs scratch");
  const dim3 grid(static_cast<unsigned>(p.tiles_x), static_cast<unsigned>(p.tiles_y),
                  static_cast<unsigned>(p.max_pieces));
  launch(segmented_wgrad_kernel<T::BM, T::BN, T::BK, T::TM, T::TN, kConv>, grid, dim3(T::kThreads),
         0, stream, a, x, dy, order, offsets, k, p.piece, gw, partials);
  if (p.slots == 0) return;
  const std::size_t w_elems = static_cast<std::size_t>(a.M) * a.N;
  const dim3 cgrid(std::min<unsigned>(grid_stride_blocks(w_elems, kBlock, 1), 64),
                   static_cast<unsigned>(k));
  launch(combine_pieces_kernel, cgrid, dim3(kBlock), 0, stream, offsets,
         static_cast<std::size_t>(a.positions.divisor()), p.piece, w_elems,
         static_cast<const float*>(partials), gw);
}

// ---- Host helpers -----------------------------------------------------------------------------

constexpr std::size_t round_up(std::size_t floats) {
  return (floats + 15) / 16 * 16;
}

// Carves consecutive 64-byte-aligned float arrays out of a scratch buffer.
class Carver {
 public:
  explicit Carver(void* base) : at_(static_cast<float*>(base)) {}
  float* take(std::size_t floats) {
    float* p = at_;
    at_ += round_up(floats);
    return p;
  }

 private:
  float* at_;
};

void check_linear(const char* what, const float* x, const float* dy, int b, int in, int out) {
  GQ_CHECK(b >= 1 && in >= 1 && out >= 1, "{}: needs b, in, out >= 1 (got b={}, in={}, out={})",
           what, b, in, out);
  GQ_CHECK(x && dy, "{}: null device pointer (x={}, dy={})", what, static_cast<const void*>(x),
           static_cast<const void*>(dy));
  GQ_CHECK(static_cast<std::size_t>(b) * in * out < kIndexLimit,
           "{}: b*in*out = {}*{}*{} needs 64-bit indices", what, b, in, out);
}

std::size_t positions(const dnn::Conv2dShape& s) {
  return static_cast<std::size_t>(s.out_h()) * s.out_w();
}
std::size_t patch(const dnn::Conv2dShape& s) {
  return static_cast<std::size_t>(s.c) * s.r * s.s;
}

void check_conv(const char* what, const dnn::Conv2dShape& s, const float* x, const float* dy) {
  dnn::check_shape(s);
  GQ_CHECK(x && dy, "{}: null device pointer (x={}, dy={})", what, static_cast<const void*>(x),
           static_cast<const void*>(dy));
  const std::size_t L = positions(s);
  GQ_CHECK(
      s.x_elems() < kIndexLimit && s.n * L * std::max(patch(s), std::size_t(s.k)) < kIndexLimit,
      "{}: batch {} with {} positions and patch {} needs 64-bit indices", what, s.n, L, patch(s));
}

void check_clusters(const char* what, const int* order, const int* offsets, int k, float* gw) {
  GQ_CHECK(k >= 1 && k <= 65535, "{}: needs 1 <= k <= 65535 clusters, got {}", what, k);
  GQ_CHECK(order && offsets && gw, "{}: null device pointer (order={}, offsets={}, gw={})", what,
           static_cast<const void*>(order), static_cast<const void*>(offsets),
           static_cast<const void*>(gw));
}

// The library path reads the offsets on the host and checks them.
std::vector<int> host_offsets(const char* what, const int* offsets, int k, int b, stream_t stream) {
  std::vector<int> h(static_cast<std::size_t>(k) + 1);
  copy_to_host(h.data(), offsets, h.size() * sizeof(int), stream);
  GQ_CHECK(h[0] == 0 && h[k] == b, "{}: offsets must run from 0 to b={}, got {} .. {}", what, b,
           h[0], h[k]);
  for (int c = 0; c < k; ++c)
    GQ_CHECK(h[c] <= h[c + 1],
             "{}: offsets must be non-decreasing, offsets[{}]={} > offsets[{}]={}", what, c, h[c],
             c + 1, h[c + 1]);
  return h;
}

PerClusterPath resolve(PerClusterPath path, bool conv) {
  if (path == PerClusterPath::library_conv && !conv) return PerClusterPath::library;
  if (path != PerClusterPath::automatic) return path;
  if (!kEmulatorShapes) return PerClusterPath::segmented;
  return conv ? PerClusterPath::library_conv : PerClusterPath::library;
}

// gw[c*W + e] *= 1/n_c, or 0 for an empty cluster (gw_c is not read then).
__global__ void __launch_bounds__(kBlock)
    scale_by_cluster_kernel(float* gw, std::size_t total, FastDivmod w_elems,
                            const int* __restrict__ offsets) {
  for (const std::size_t e : grid_range(total)) {
    const std::uint32_t c = w_elems.div(static_cast<std::uint32_t>(e));
    const int n = offsets[c + 1] - offsets[c];
    gw[e] = n > 0 ? gw[e] * (1.0f / static_cast<float>(n)) : 0.0f;
  }
}

// library_conv: backward-filter plans for pieces of 2^e <= kMaxPiece samples, cached per shape.
constexpr int kMaxPiece = 32;
std::mutex g_plans_mutex;

// Caller holds g_plans_mutex. The cache is never destroyed: plans outlive static destruction, so
// no GPU library handle is released after the CUDA runtime has shut down.
dnn::Conv2d& piece_plan(dnn::Conv2dShape s, int n) {
  static auto* plans = new std::map<std::array<int, 11>, std::unique_ptr<dnn::Conv2d>>();
  s.n = n;
  const std::array<int, 11> key{s.n, s.c,        s.h,        s.w,     s.k,    s.r,
                                s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w};
  auto& plan = (*plans)[key];
  if (!plan) plan = std::make_unique<dnn::Conv2d>(s);
  return *plan;
}

void row_sums(const float* a, std::size_t rows, int len, float* sums, stream_t stream) {
  launch(row_sums_kernel, grid_stride_blocks(rows, kBlock), kBlock, 0, stream, a, rows, len, sums);
}

void segment_mean_rows(const float* rows, int width, const int* order, const int* offsets, int k,
                       float* out, stream_t stream) {
  const std::size_t total = static_cast<std::size_t>(k) * width;
  launch(segment_mean_rows_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, rows,
         width, order, offsets, k, out);
}

// Library-path conv chunk: at most this many floats of im2col + transposed dy at a time.
constexpr std::size_t kChunkFloats = std::size_t{1} << 24;
std::size_t g_chunk_floats = kChunkFloats;

int conv_chunk_samples(const dnn::Conv2dShape& s) {
  const std::size_t per_sample = positions(s) * (patch(s) + s.k);
  return static_cast<int>(
      std::clamp<std::size_t>(g_chunk_floats / per_sample, 1, static_cast<std::size_t>(s.n)));
}

SegArgs conv_seg_args(const dnn::Conv2dShape& s) {
  return SegArgs{s.k,
                 static_cast<int>(patch(s)),
                 FastDivmod(static_cast<std::uint32_t>(positions(s))),
                 FastDivmod(static_cast<std::uint32_t>(s.out_w())),
                 FastDivmod(static_cast<std::uint32_t>(s.r * s.s)),
                 FastDivmod(static_cast<std::uint32_t>(s.s)),
                 s.c,
                 s.h,
                 s.w,
                 s.stride_h,
                 s.stride_w,
                 s.pad_h,
                 s.pad_w};
}

}  // namespace

std::size_t segmented_blocks_linear(int b, int in, int out, int k) {
  return seg_plan(out, in, static_cast<std::size_t>(b), k).blocks();
}

std::size_t segmented_blocks_conv2d(const dnn::Conv2dShape& s, int k) {
  return seg_plan(s.k, static_cast<int>(patch(s)), s.n * positions(s), k).blocks();
}

void detail::set_conv_chunk_floats(std::size_t floats) {
  g_chunk_floats = floats ? floats : kChunkFloats;
}

// ---- Linear -----------------------------------------------------------------------------------

void linear_per_sample_grads(const float* x, const float* dy, int b, int in, int out, float* gw,
                             float* gb, stream_t stream) {
  check_linear("linear_per_sample_grads", x, dy, b, in, out);
  GQ_CHECK(gw, "linear_per_sample_grads: null gw");
  const std::size_t total = static_cast<std::size_t>(b) * in * out;
  launch(outer_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, x, dy, total,
         FastDivmod(static_cast<std::uint32_t>(in)), out, gw);
  if (gb) copy_on_device(gb, dy, static_cast<std::size_t>(b) * out * sizeof(float), stream);
}

void linear_per_sample_sq_norms(const float* x, const float* dy, int b, int in, int out,
                                bool with_bias, float* sq_norms, stream_t stream) {
  check_linear("linear_per_sample_sq_norms", x, dy, b, in, out);
  GQ_CHECK(sq_norms, "linear_per_sample_sq_norms: null sq_norms");
  launch(linear_sq_norms_kernel, static_cast<unsigned>(b), kRowBlock, 0, stream, x, dy, in, out,
         with_bias, sq_norms);
}

std::size_t per_cluster_scratch_bytes_linear(int b, int in, int out, int k) {
  const std::size_t library =
      round_up(static_cast<std::size_t>(b) * in) + round_up(static_cast<std::size_t>(b) * out);
  const std::size_t split = seg_plan(out, in, static_cast<std::size_t>(b), k).slots *
                            static_cast<std::size_t>(out) * in;
  return std::max(library, split) * sizeof(float);
}

void linear_per_cluster_grads(const float* x, const float* dy, int b, int in, int out,
                              const int* order, const int* offsets, int k, float* gw, float* gb,
                              void* scratch, stream_t stream) {
  linear_per_cluster_grads(PerClusterPath::automatic, x, dy, b, in, out, order, offsets, k, gw, gb,
                           scratch, stream);
}

void linear_per_cluster_grads(PerClusterPath path, const float* x, const float* dy, int b, int in,
                              int out, const int* order, const int* offsets, int k, float* gw,
                              float* gb, void* scratch, stream_t stream) {
  const char* what = "linear_per_cluster_grads";
  check_linear(what, x, dy, b, in, out);
  check_clusters(what, order, offsets, k, gw);
  if (gb) segment_mean_rows(dy, out, order, offsets, k, gb, stream);
  if (resolve(path, false) == PerClusterPath::segmented) {
    SegArgs a{out, in, FastDivmod(1), FastDivmod(1), FastDivmod(1), FastDivmod(1), 1, 1, 1, 1, 1,
              0,   0};
    launch_segmented<false>(a, static_cast<std::size_t>(b), x, dy, order, offsets, k, gw,
                            static_cast<float*>(scratch), stream);
    return;
  }
  GQ_CHECK(scratch, "{}: the library path needs scratch (per_cluster_scratch_bytes_linear)", what);
  const std::vector<int> offs = host_offsets(what, offsets, k, b, stream);
  Carver carve(scratch);
  float* xs = carve.take(static_cast<std::size_t>(b) * in);
  float* dys = carve.take(static_cast<std::size_t>(b) * out);
  gather_rows(x, order, b, static_cast<std::size_t>(in), xs, stream);
  gather_rows(dy, order, b, static_cast<std::size_t>(out), dys, stream);
  const std::size_t w_elems = static_cast<std::size_t>(out) * in;
  for (int c = 0; c < k; ++c) {
    const int first = offs[c], n = offs[c + 1] - offs[c];
    float* gw_c = gw + c * w_elems;
    if (n == 0) {
      memset_device(gw_c, 0, w_elems * sizeof(float), stream);
      continue;
    }
    blas::gemm(blas::Op::T, blas::Op::N, out, in, n, 1.0f / static_cast<float>(n),
               dys + static_cast<std::size_t>(first) * out, out,
               xs + static_cast<std::size_t>(first) * in, in, 0.0f, gw_c, in, stream);
  }
}

// ---- Conv2d -----------------------------------------------------------------------------------

NormMethod conv2d_norm_method(const dnn::Conv2dShape& s) {
  const double L = static_cast<double>(positions(s)), p = static_cast<double>(patch(s)), d = s.k;
  return L * L * (p + d) < L * p * d ? NormMethod::ghost : NormMethod::instantiate;
}

std::size_t conv2d_per_sample_scratch_bytes(const dnn::Conv2dShape& s) {
  const std::size_t b = s.n, L = positions(s), p = patch(s), d = s.k;
  const std::size_t col = round_up(b * L * p), bias = round_up(b * d);
  const std::size_t instantiate = round_up(b * d * p), ghost = 2 * round_up(b * L * L);
  return (col + bias + std::max(instantiate, ghost)) * sizeof(float);
}

void conv2d_per_sample_grads(const dnn::Conv2dShape& s, const float* x, const float* dy, float* gw,
                             float* gb, void* scratch, stream_t stream) {
  const char* what = "conv2d_per_sample_grads";
  check_conv(what, s, x, dy);
  GQ_CHECK(gw && scratch, "{}: null gw or scratch", what);
  const int L = static_cast<int>(positions(s)), p = static_cast<int>(patch(s));
  float* col = Carver(scratch).take(static_cast<std::size_t>(s.n) * L * p);
  im2col(s, x, nullptr, 0, s.n, col, static_cast<std::size_t>(p) * L, L, stream);
  // gw_i [k, p] = dy_i [k, L] x col_i^T (col_i is [p, L]).
  blas::gemm_strided_batched(blas::Op::N, blas::Op::T, s.k, p, L, 1.0f, dy, L,
                             static_cast<long long>(s.k) * L, col, L, static_cast<long long>(L) * p,
                             0.0f, gw, p, static_cast<long long>(s.k) * p, s.n, stream);
  if (gb) row_sums(dy, static_cast<std::size_t>(s.n) * s.k, L, gb, stream);
}

void conv2d_per_sample_sq_norms(const dnn::Conv2dShape& s, const float* x, const float* dy,
                                bool with_bias, float* sq_norms, void* scratch, stream_t stream) {
  conv2d_per_sample_sq_norms(s, conv2d_norm_method(s), x, dy, with_bias, sq_norms, scratch, stream);
}

void conv2d_per_sample_sq_norms(const dnn::Conv2dShape& s, NormMethod method, const float* x,
                                const float* dy, bool with_bias, float* sq_norms, void* scratch,
                                stream_t stream) {
  const char* what = "conv2d_per_sample_sq_norms";
  check_conv(what, s, x, dy);
  GQ_CHECK(sq_norms && scratch, "{}: null sq_norms or scratch", what);
  const int b = s.n, L = static_cast<int>(positions(s)), p = static_cast<int>(patch(s)), d = s.k;
  Carver carve(scratch);
  float* col = carve.take(static_cast<std::size_t>(b) * L * p);
  float* bias = carve.take(static_cast<std::size_t>(b) * d);
  im2col(s, x, nullptr, 0, b, col, static_cast<std::size_t>(p) * L, L, stream);
  if (with_bias) row_sums(dy, static_cast<std::size_t>(b) * d, L, bias, stream);
  const float* bias_a = with_bias ? bias : nullptr;
  if (method == NormMethod::instantiate) {
    float* g = carve.take(static_cast<std::size_t>(b) * d * p);
    blas::gemm_strided_batched(blas::Op::N, blas::Op::T, d, p, L, 1.0f, dy, L,
                               static_cast<long long>(d) * L, col, L, static_cast<long long>(L) * p,
                               0.0f, g, p, static_cast<long long>(d) * p, b, stream);
    launch(row_dot_kernel, static_cast<unsigned>(b), kRowBlock, 0, stream, g, g,
           static_cast<std::size_t>(d) * p, bias_a, bias_a, static_cast<std::size_t>(d), sq_norms);
    return;
  }
  // Ghost: Gd_i = dy_i^T dy_i and Gu_i = col_i^T col_i (both L x L), ||g_i||^2 = <Gd_i, Gu_i>.
  const std::size_t ll = static_cast<std::size_t>(L) * L;
  float* gd = carve.take(static_cast<std::size_t>(b) * ll);
  float* gu = carve.take(static_cast<std::size_t>(b) * ll);
  blas::gemm_strided_batched(blas::Op::T, blas::Op::N, L, L, d, 1.0f, dy, L,
                             static_cast<long long>(d) * L, dy, L, static_cast<long long>(d) * L,
                             0.0f, gd, L, static_cast<long long>(ll), b, stream);
  blas::gemm_strided_batched(blas::Op::T, blas::Op::N, L, L, p, 1.0f, col, L,
                             static_cast<long long>(L) * p, col, L, static_cast<long long>(L) * p,
                             0.0f, gu, L, static_cast<long long>(ll), b, stream);
  launch(row_dot_kernel, static_cast<unsigned>(b), kRowBlock, 0, stream, gd, gu, ll, bias_a, bias_a,
         static_cast<std::size_t>(d), sq_norms);
}

std::size_t prepare_per_cluster_grads(const dnn::Conv2dShape& s) {
  if (!kEmulatorShapes) return 0;  // the automatic path there is segmented: no plans
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  std::size_t bytes = 0;
  for (int n = 1; n <= kMaxPiece && n <= s.n; n *= 2) bytes += piece_plan(s, n).workspace_bytes();
  return bytes;
}

std::size_t per_cluster_scratch_bytes_conv2d(const dnn::Conv2dShape& s, int k) {
  const std::size_t chunk = static_cast<std::size_t>(conv_chunk_samples(s)), L = positions(s);
  const std::size_t library = round_up(chunk * L * patch(s)) + round_up(chunk * L * s.k);
  const std::size_t library_conv = round_up(s.x_elems()) + round_up(s.y_elems());
  const std::size_t split =
      seg_plan(s.k, static_cast<int>(patch(s)), s.n * L, k).slots * s.w_elems();
  return (round_up(static_cast<std::size_t>(s.n) * s.k) +
          std::max({library, library_conv, split})) *
         sizeof(float);
}

void conv2d_per_cluster_grads(const dnn::Conv2dShape& s, const float* x, const float* dy,
                              const int* order, const int* offsets, int k, float* gw, float* gb,
                              void* scratch, stream_t stream) {
  conv2d_per_cluster_grads(PerClusterPath::automatic, s, x, dy, order, offsets, k, gw, gb, scratch,
                           stream);
}

void conv2d_per_cluster_grads(PerClusterPath path, const dnn::Conv2dShape& s, const float* x,
                              const float* dy, const int* order, const int* offsets, int k,
                              float* gw, float* gb, void* scratch, stream_t stream) {
  const char* what = "conv2d_per_cluster_grads";
  check_conv(what, s, x, dy);
  check_clusters(what, order, offsets, k, gw);
  GQ_CHECK(scratch, "{}: needs scratch (per_cluster_scratch_bytes_conv2d)", what);
  const int L = static_cast<int>(positions(s)), p = static_cast<int>(patch(s));
  const int chunk = conv_chunk_samples(s);
  Carver carve(scratch);
  float* bias = carve.take(static_cast<std::size_t>(s.n) * s.k);
  if (gb) {
    row_sums(dy, static_cast<std::size_t>(s.n) * s.k, L, bias, stream);
    segment_mean_rows(bias, s.k, order, offsets, k, gb, stream);
  }
  path = resolve(path, true);
  if (path == PerClusterPath::segmented) {
    launch_segmented<true>(conv_seg_args(s), static_cast<std::size_t>(s.n) * L, x, dy, order,
                           offsets, k, gw, carve.take(0), stream);
    return;
  }
  const std::vector<int> offs = host_offsets(what, offsets, k, s.n, stream);
  const std::size_t w_elems = s.w_elems();
  if (path == PerClusterPath::library_conv) {
    // The batch in cluster order, then backward_filter over each cluster's slice in pieces.
    const std::size_t x_row = s.x_elems() / s.n, y_row = s.y_elems() / s.n;
    float* xg = carve.take(s.x_elems());
    float* dyg = carve.take(s.y_elems());
    gather_rows(x, order, s.n, x_row, xg, stream);
    gather_rows(dy, order, s.n, y_row, dyg, stream);
    {
      const std::lock_guard<std::mutex> lock(g_plans_mutex);
      for (int c = 0; c < k; ++c) {
        for (int done = 0, n = offs[c + 1] - offs[c]; done < n;) {
          int piece = kMaxPiece;
          while (piece > n - done) piece /= 2;
          const std::size_t at = static_cast<std::size_t>(offs[c]) + done;
          piece_plan(s, piece).backward_filter(xg + at * x_row, dyg + at * y_row, gw + c * w_elems,
                                               done > 0, stream);
          done += piece;
        }
      }
    }
    const std::size_t total = static_cast<std::size_t>(k) * w_elems;
    launch(scale_by_cluster_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, gw, total,
           FastDivmod(static_cast<std::uint32_t>(w_elems)), offsets);
    return;
  }
  float* col = carve.take(static_cast<std::size_t>(chunk) * L * p);
  float* dyg = carve.take(static_cast<std::size_t>(chunk) * L * s.k);
  for (int c = 0; c < k; ++c) {
    const int n = offs[c + 1] - offs[c];
    float* gw_c = gw + c * w_elems;
    if (n == 0) {
      memset_device(gw_c, 0, w_elems * sizeof(float), stream);
      continue;
    }
    for (int done = 0; done < n; done += chunk) {
      const int count = std::min(chunk, n - done), first = offs[c] + done;
      const int cols = count * L;
      im2col(s, x, order, first, count, col, L, static_cast<std::size_t>(cols), stream);
      const std::size_t rows = static_cast<std::size_t>(s.k) * count;
      launch(gather_dy_rows_kernel, grid_stride_blocks(rows, kBlock), kBlock, 0, stream, dy, order,
             first, rows, FastDivmod(static_cast<std::uint32_t>(count)), s.k, L, dyg);
      // gw_c [k, p] (+)= (1/n) dyg [k, count*L] x col^T (col is [p, count*L]).
      blas::gemm(blas::Op::N, blas::Op::T, s.k, p, cols, 1.0f / static_cast<float>(n), dyg, cols,
                 col, cols, done == 0 ? 0.0f : 1.0f, gw_c, p, stream);
    }
  }
}

}  // namespace gq::kernels
