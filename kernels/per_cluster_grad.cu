// Per-cluster mean weight gradients of Linear and Conv2d layers (kernels/per_cluster_grad.h).
//
// Kernels and launch shapes:
//  - segment_mean_rows_kernel (per-cluster bias): one thread per (cluster, channel), summing the
//    cluster's samples in order.
//  - gather_rows_kernel (library paths): one row per blockIdx.y, copied by the blocks along x
//    (GPU: 256 threads, up to 64 blocks per row; emulator: one fiber per row).
//  - gather_dy_rows_kernel (library path, Conv2d): grid-stride, one thread per (kout, sample) row
//    of L, building dy of a chunk as one [kout, count*L] matrix.
//  - scale_by_cluster_kernel (library_conv path): grid-stride map, gw_c *= 1/n_c.
//  - zero_empty_clusters_kernel (library paths): gw_c = 0 for the empty clusters, one launch for
//    all k (blockIdx.y = c; GPU: 256 threads, up to 64 blocks per row; emulator: one fiber per
//    row). Writes 4 bytes per element of the empty clusters' rows.
//  - segmented_wgrad_kernel (the segmented path): a tiled GEMM, one block per (BN x BM output
//    tile, piece of a cluster). Each cluster's reduction range (its samples, times the positions
//    for Conv2d) is split into pieces of a fixed length chosen from the shape so that the launch
//    has >= 2 x 132 blocks even for layers with few output tiles; the block finds its (cluster,
//    piece) from the device offsets, walks its t range loading BK-deep slices of A = dy (gathered
//    by order) and B = x (gathered by order; for Conv2d an implicit im2col) into shared memory;
//    each thread keeps a TM x TN register tile. A cluster in one piece is written scaled;
//    otherwise piece 0 goes to gw_c and the others to scratch slots, and combine_pieces_kernel
//    (grid: blocks over out*in x k) adds them in piece order and scales. GPU: 64x64 tiles, 256
//    threads, 4x4 per thread. Emulator: one thread per 32x32 tile (no barriers cost, vectorisable
//    inner loop) and no split.
// Host side of the library paths: blas::gemm per cluster (chunk) over im2col + gathered dy rows,
// or (library_conv) dnn::Conv2d::backward_filter over the cluster-ordered batch in pieces of 32,
// 16, ..., 1 samples with the object's plan per piece size.
// Memory traffic: the segmented kernel reads each x / dy element once per output tile that needs
// it and writes k*out*in floats (the split adds one write and read of out*in floats per extra
// piece, <= 2 x 132 / tiles of them); the library path writes and reads one im2col copy of the
// batch (chunked for Conv2d); library_conv one gathered copy of x and dy.
// Every output is accumulated in a fixed order (no atomics): results are bit-reproducible for a
// shape and device. Multiply-adds are written as fmaf so nvcc's contraction cannot make the two
// devices differ in the hand-written kernels.
#include "kernels/per_cluster_grad.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels/im2col.h"
#include "kernels/per_sample.h"
#include "runtime/blas.h"
#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

// out[c*ld + o] = (1/n_c) sum over j in cluster c (in order) of rows[order[j]*width + o].
__global__ void __launch_bounds__(kBlock)
    segment_mean_rows_kernel(const float* __restrict__ rows, int width,
                             const int* __restrict__ order, const int* __restrict__ offsets, int k,
                             float* __restrict__ out, std::size_t ld) {
  for (const std::size_t e : grid_range(static_cast<std::size_t>(k) * width)) {
    const int c = static_cast<int>(e / width), o = static_cast<int>(e % width);
    const int first = offsets[c], last = offsets[c + 1];
    float acc = 0.0f;
    for (int j = first; j < last; ++j) acc += rows[static_cast<std::size_t>(order[j]) * width + o];
    out[c * ld + o] = last > first ? acc / static_cast<float>(last - first) : 0.0f;
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
                           std::size_t piece, float* __restrict__ gw, std::size_t ld,
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
  const std::size_t t_last = std::min(static_cast<std::size_t>(last) * L, t_first + piece);

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
  float* out = p.q == 0 ? gw + static_cast<std::size_t>(p.cluster) * ld
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

// gw_c (at gw + c*ld) = (gw_c + slots of c's pieces 1.., in order) / n_c for every cluster cut into
// pieces.
// Grid (blocks over w_elems, k); thread 0 finds the cluster's slots.
__global__ void __launch_bounds__(kBlock)
    combine_pieces_kernel(const int* __restrict__ offsets, std::size_t L, std::size_t piece,
                          std::size_t w_elems, const float* __restrict__ partials,
                          float* __restrict__ gw, std::size_t ld) {
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
  float* g = gw + static_cast<std::size_t>(c) * ld;
  for (const std::size_t e :
       thread_share(w_elems, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                    std::size_t{gridDim.x} * blockDim.x)) {
    float acc = g[e];
    for (int q = 1; q < pieces; ++q)
      acc += partials[(static_cast<std::size_t>(slot) + q - 1) * w_elems + e];
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
  p.max_pieces = p.slots + static_cast<std::size_t>(k);
  GQ_CHECK(p.max_pieces <= 65535,
           "segmented per-cluster gradient: {} pieces exceed a grid's z limit of 65535 (k = {})",
           p.max_pieces, k);
  return p;
}

template <bool kConv>
void launch_segmented(const SegArgs& a, std::size_t t_total, const float* x, const float* dy,
                      const Clustering& clusters, MatrixView gw, float* partials, stream_t stream) {
  const int* order = clusters.order;
  const int* offsets = clusters.offsets;
  const int k = clusters.k;
  using T = SegTile;
  const SegPlan p = seg_plan(a.M, a.N, t_total, k);
  GQ_CHECK(p.slots == 0 || partials, "segmented per-cluster gradient: the split needs scratch");
  const dim3 grid(static_cast<unsigned>(p.tiles_x), static_cast<unsigned>(p.tiles_y),
                  static_cast<unsigned>(p.max_pieces));
  launch(segmented_wgrad_kernel<T::BM, T::BN, T::BK, T::TM, T::TN, kConv>, grid, dim3(T::kThreads),
         0, stream, a, x, dy, order, offsets, k, p.piece, gw.data, gw.ld, partials);
  if (p.slots == 0) return;
  const std::size_t w_elems = static_cast<std::size_t>(a.M) * a.N;
  const dim3 cgrid(std::min<unsigned>(grid_stride_blocks(w_elems, kBlock, 1), 64),
                   static_cast<unsigned>(k));
  launch(combine_pieces_kernel, cgrid, dim3(kBlock), 0, stream, offsets,
         static_cast<std::size_t>(a.positions.divisor()), p.piece, w_elems,
         static_cast<const float*>(partials), gw.data, gw.ld);
}

// gw[c*ld + e] *= 1/n_c for e < w_elems, or 0 for an empty cluster (gw_c is not read then).
__global__ void __launch_bounds__(kBlock)
    scale_by_cluster_kernel(float* gw, std::size_t ld, std::size_t total, FastDivmod w_elems,
                            const int* __restrict__ offsets) {
  for (const std::size_t i : grid_range(total)) {
    std::uint32_t c, e;
    w_elems.divmod(static_cast<std::uint32_t>(i), c, e);
    const int n = offsets[c + 1] - offsets[c];
    float& g = gw[c * ld + e];
    g = n > 0 ? g * (1.0f / static_cast<float>(n)) : 0.0f;
  }
}

// gw_c = 0 for every empty cluster c (the library paths run no gemm for it): one launch for all
// clusters, blockIdx.y = c, instead of a memset per empty cluster (up to k launches).
__global__ void __launch_bounds__(kGatherBlock)
    zero_empty_clusters_kernel(float* gw, std::size_t ld, std::size_t cols,
                               const int* __restrict__ offsets) {
  const std::size_t c = blockIdx.y;
  if (offsets[c + 1] != offsets[c]) return;
  float* row = gw + c * ld;
  for (const std::size_t e : thread_share(cols, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                                          std::size_t{gridDim.x} * blockDim.x))
    row[e] = 0.0f;
}

void zero_empty_clusters(MatrixView gw, const int* offsets, stream_t stream) {
  const std::size_t blocks =
      kEmulatorShapes ? 1 : std::min<std::size_t>((gw.cols + kGatherBlock - 1) / kGatherBlock, 64);
  launch(zero_empty_clusters_kernel,
         dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(gw.rows)), dim3(kGatherBlock), 0,
         stream, gw.data, gw.ld, gw.cols, offsets);
}

// ---- Host helpers -----------------------------------------------------------------------------

std::size_t positions(const dnn::Conv2dShape& s) {
  return static_cast<std::size_t>(s.out_h()) * s.out_w();
}
std::size_t patch(const dnn::Conv2dShape& s) {
  return static_cast<std::size_t>(s.c) * s.r * s.s;
}

PerClusterPath resolve(PerClusterPath path, bool conv) {
  if (path == PerClusterPath::library_conv && !conv) return PerClusterPath::library;
  if (path != PerClusterPath::automatic) return path;
  if (!kEmulatorShapes) return PerClusterPath::segmented;
  return conv ? PerClusterPath::library_conv : PerClusterPath::library;
}

void check_call(const char* what, int k, int b, const float* x, const float* dy,
                const Clustering& clusters, const MatrixView& gw, const MatrixView& gb,
                std::size_t w_cols, std::size_t b_cols) {
  GQ_CHECK(x && dy && clusters.order && clusters.offsets && gw.data,
           "{}: null device pointer (x={}, dy={}, order={}, offsets={}, gw={})", what,
           static_cast<const void*>(x), static_cast<const void*>(dy),
           static_cast<const void*>(clusters.order), static_cast<const void*>(clusters.offsets),
           static_cast<const void*>(gw.data));
  GQ_CHECK(clusters.k == k && clusters.b == b,
           "{}: built for k = {} clusters of b = {} samples, called with k = {}, b = {}", what, k,
           b, clusters.k, clusters.b);
  GQ_CHECK(gw.rows == static_cast<std::size_t>(k) && gw.cols == w_cols && gw.ld >= w_cols,
           "{}: gw must be {} rows of {} floats (ld >= cols), got {} x {} (ld {})", what, k, w_cols,
           gw.rows, gw.cols, gw.ld);
  GQ_CHECK(
      !gb.data || (gb.rows == static_cast<std::size_t>(k) && gb.cols == b_cols && gb.ld >= b_cols),
      "{}: gb must be {} rows of {} floats (ld >= cols), got {} x {} (ld {})", what, k, b_cols,
      gb.rows, gb.cols, gb.ld);
}

// The library paths read the offsets on the host and check them.
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

// The library paths read the offsets on the host, so the rest of the call depends on them. While
// this thread captures a CUDA graph, the emulator keeps `rest` as one library call that runs at
// every replay, reading that replay's offsets (its device memory is host memory), and this
// returns true; under nvcc it returns false, and the host read fails the capture, naming it (the
// GPU takes the segmented path). Outside a capture `rest` runs now in both builds: its host read
// waits for the stream there, as on a GPU (also with the emulator's deferred streams).
template <class F>
bool record_host_path(stream_t stream, const char* what, F&& rest) {
#if GQ_WITH_CUDA
  (void)stream, (void)what, (void)rest;
  return false;
#else
  return detail::t_capture != nullptr &&
         detail::record_library_call(stream, what, std::forward<F>(rest));
#endif
}

void segment_mean_rows(const float* rows, int width, const Clustering& clusters, MatrixView out,
                       stream_t stream) {
  const std::size_t total = static_cast<std::size_t>(clusters.k) * width;
  launch(segment_mean_rows_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, rows,
         width, clusters.order, clusters.offsets, clusters.k, out.data, out.ld);
}

SegArgs linear_seg_args(int in, int out) {
  return SegArgs{out, in, FastDivmod(1), FastDivmod(1), FastDivmod(1), FastDivmod(1), 1, 1, 1, 1, 1,
                 0,   0};
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

// library_conv: the largest piece (samples per backward_filter call; plans for every power of two
// up to it).
constexpr int kMaxPiece = 32;

}  // namespace

std::size_t segmented_blocks_linear(int b, int in, int out, int k) {
  return seg_plan(out, in, static_cast<std::size_t>(b), k).blocks();
}

std::size_t segmented_blocks_conv2d(const dnn::Conv2dShape& s, int k) {
  return seg_plan(s.k, static_cast<int>(patch(s)), s.n * positions(s), k).blocks();
}

// ---- Linear -----------------------------------------------------------------------------------

LinearPerClusterGrad::LinearPerClusterGrad(int b, int in, int out, int k, PerClusterPath path)
    : b_(b), in_(in), out_(out), k_(k), path_(resolve(path, false)) {
  GQ_CHECK(b >= 1 && in >= 1 && out >= 1,
           "LinearPerClusterGrad: needs b, in, out >= 1 (got b={}, in={}, out={})", b, in, out);
  GQ_CHECK(k >= 1 && k <= 65535, "LinearPerClusterGrad: needs 1 <= k <= 65535 clusters, got {}", k);
  GQ_CHECK(static_cast<std::size_t>(b) * in * out < (std::size_t{1} << 32),
           "LinearPerClusterGrad: b*in*out = {}*{}*{} needs 64-bit indices", b, in, out);
  if (path_ == PerClusterPath::segmented) {
    partials_ = DeviceBuffer<float>(seg_plan(out, in, static_cast<std::size_t>(b), k).slots *
                                    static_cast<std::size_t>(out) * in);
  } else {
    xs_ = DeviceBuffer<float>(static_cast<std::size_t>(b) * in);
    dys_ = DeviceBuffer<float>(static_cast<std::size_t>(b) * out);
  }
}

std::size_t LinearPerClusterGrad::bytes() const {
  return xs_.bytes() + dys_.bytes() + partials_.bytes();
}

void LinearPerClusterGrad::compute(const float* x, const float* dy, const Clustering& clusters,
                                   MatrixView gw, MatrixView gb, stream_t stream) {
  const char* what = "LinearPerClusterGrad";
  check_call(what, k_, b_, x, dy, clusters, gw, gb, static_cast<std::size_t>(out_) * in_, out_);
  if (gb.data) segment_mean_rows(dy, out_, clusters, gb, stream);
  if (path_ == PerClusterPath::segmented) {
    launch_segmented<false>(linear_seg_args(in_, out_), static_cast<std::size_t>(b_), x, dy,
                            clusters, gw, partials_.data(), stream);
    return;
  }
  const auto library = [=, this] {
    const std::vector<int> offs = host_offsets(what, clusters.offsets, k_, b_, stream);
    gather_rows(x, clusters.order, b_, static_cast<std::size_t>(in_), xs_.data(), stream);
    gather_rows(dy, clusters.order, b_, static_cast<std::size_t>(out_), dys_.data(), stream);
    zero_empty_clusters(gw, clusters.offsets, stream);
    for (int c = 0; c < k_; ++c) {
      const int first = offs[c], n = offs[c + 1] - offs[c];
      float* gw_c = gw.row(c);
      if (n == 0) continue;  // zeroed above
      blas::gemm(blas::Op::T, blas::Op::N, out_, in_, n, 1.0f / static_cast<float>(n),
                 dys_.data() + static_cast<std::size_t>(first) * out_, out_,
                 xs_.data() + static_cast<std::size_t>(first) * in_, in_, 0.0f, gw_c, in_, stream);
    }
  };
  if (!record_host_path(stream, what, library)) library();
}

// ---- Conv2d -----------------------------------------------------------------------------------

Conv2dPerClusterGrad::Conv2dPerClusterGrad(const dnn::Conv2dShape& s, int k, PerClusterPath path,
                                           std::size_t chunk_floats)
    : s_(s), k_(k), path_(resolve(path, true)) {
  const char* what = "Conv2dPerClusterGrad";
  dnn::check_shape(s);
  GQ_CHECK(k >= 1 && k <= 65535, "{}: needs 1 <= k <= 65535 clusters, got {}", what, k);
  const std::size_t L = positions(s), p = patch(s);
  GQ_CHECK(s.x_elems() < (std::size_t{1} << 32) &&
               s.n * L * std::max(p, std::size_t(s.k)) < (std::size_t{1} << 32),
           "{}: batch {} with {} positions and patch {} needs 64-bit indices", what, s.n, L, p);
  GQ_CHECK(chunk_floats >= 1, "{}: chunk_floats must be >= 1", what);
  sample_bias_ = DeviceBuffer<float>(static_cast<std::size_t>(s.n) * s.k);
  switch (path_) {
    case PerClusterPath::segmented:
      partials_ =
          DeviceBuffer<float>(seg_plan(s.k, static_cast<int>(p), s.n * L, k).slots * s.w_elems());
      break;
    case PerClusterPath::library:
      chunk_ = static_cast<int>(std::clamp<std::size_t>(chunk_floats / (L * (p + s.k)), 1,
                                                        static_cast<std::size_t>(s.n)));
      xs_ = DeviceBuffer<float>(static_cast<std::size_t>(chunk_) * L * p);
      dys_ = DeviceBuffer<float>(static_cast<std::size_t>(chunk_) * L * s.k);
      break;
    default:  // library_conv
      xs_ = DeviceBuffer<float>(s.x_elems());
      dys_ = DeviceBuffer<float>(s.y_elems());
      for (int n = 1; n <= kMaxPiece && n <= s.n; n *= 2) {
        dnn::Conv2dShape piece = s;
        piece.n = n;
        piece_plans_.emplace_back(piece);
      }
  }
}

std::size_t Conv2dPerClusterGrad::bytes() const {
  std::size_t bytes = sample_bias_.bytes() + xs_.bytes() + dys_.bytes() + partials_.bytes();
  for (const dnn::Conv2d& plan : piece_plans_) bytes += plan.workspace_bytes();
  return bytes;
}

void Conv2dPerClusterGrad::compute(const float* x, const float* dy, const Clustering& clusters,
                                   MatrixView gw, MatrixView gb, stream_t stream) {
  const char* what = "Conv2dPerClusterGrad";
  const std::size_t w_elems = s_.w_elems();
  check_call(what, k_, s_.n, x, dy, clusters, gw, gb, w_elems, s_.k);
  const int L = static_cast<int>(positions(s_)), p = static_cast<int>(patch(s_));
  if (gb.data) {
    conv2d_per_sample_bias_grads(s_, dy, sample_bias_.data(), stream);
    segment_mean_rows(sample_bias_.data(), s_.k, clusters, gb, stream);
  }
  if (path_ == PerClusterPath::segmented) {
    launch_segmented<true>(conv_seg_args(s_), static_cast<std::size_t>(s_.n) * L, x, dy, clusters,
                           gw, partials_.data(), stream);
    return;
  }
  const auto library = [=, this] {
    const std::vector<int> offs = host_offsets(what, clusters.offsets, k_, s_.n, stream);
    if (path_ == PerClusterPath::library_conv) {
      // The batch in cluster order, then backward_filter over each cluster's slice in pieces.
      const std::size_t x_row = s_.x_elems() / s_.n, y_row = s_.y_elems() / s_.n;
      gather_rows(x, clusters.order, s_.n, x_row, xs_.data(), stream);
      gather_rows(dy, clusters.order, s_.n, y_row, dys_.data(), stream);
      for (int c = 0; c < k_; ++c) {
        for (int done = 0, n = offs[c + 1] - offs[c]; done < n;) {
          int e = static_cast<int>(piece_plans_.size()) - 1;  // the largest piece that fits
          while ((1 << e) > n - done) --e;
          const std::size_t at = static_cast<std::size_t>(offs[c]) + done;
          piece_plans_[e].backward_filter(xs_.data() + at * x_row, dys_.data() + at * y_row,
                                          gw.row(c), done > 0, stream);
          done += 1 << e;
        }
      }
      const std::size_t total = static_cast<std::size_t>(k_) * w_elems;
      launch(scale_by_cluster_kernel, grid_stride_blocks(total, kBlock), kBlock, 0, stream, gw.data,
             gw.ld, total, FastDivmod(static_cast<std::uint32_t>(w_elems)), clusters.offsets);
      return;
    }
    // library: per cluster and chunk of its samples, an im2col and a dy gather (launches that grow
    // with k, as the gemms do; this path is chosen explicitly only, the automatic one never takes
    // it).
    zero_empty_clusters(gw, clusters.offsets, stream);
    for (int c = 0; c < k_; ++c) {
      const int n = offs[c + 1] - offs[c];
      float* gw_c = gw.row(c);
      if (n == 0) continue;  // zeroed above
      for (int done = 0; done < n; done += chunk_) {
        const int count = std::min(chunk_, n - done), first = offs[c] + done;
        const int cols = count * L;
        im2col(s_, x, clusters.order, first, count, xs_.data(), L, static_cast<std::size_t>(cols),
               stream);
        const std::size_t rows = static_cast<std::size_t>(s_.k) * count;
        launch(gather_dy_rows_kernel, grid_stride_blocks(rows, kBlock), kBlock, 0, stream, dy,
               clusters.order, first, rows, FastDivmod(static_cast<std::uint32_t>(count)), s_.k, L,
               dys_.data());
        // gw_c [k, p] (+)= (1/n) dyg [k, count*L] x col^T (col is [p, count*L]).
        blas::gemm(blas::Op::N, blas::Op::T, s_.k, p, cols, 1.0f / static_cast<float>(n),
                   dys_.data(), cols, xs_.data(), cols, done == 0 ? 0.0f : 1.0f, gw_c, p, stream);
      }
    }
  };
  if (!record_host_path(stream, what, library)) library();
}

}  // namespace gq::kernels
