// Grad Queue combine (docs/GRADQUEUE.md §4): gbar = sum_c (n_c/b) g_c and the scarcity-weighted G*,
// rescaled to ||gbar||, with diagnostics, all without a host round trip.
//
// Passes (k clusters, p parameters, T tensors; bytes are HBM traffic per call):
//   A  tensor_sums   grid (kSplits, T): per-tensor sum of sigma^2 and mu^2 (eps_j, noise scale).
//                    Reads mu, sigma: 8p.
//   P  prepare       1 block: eps per tensor, the totals, per-cluster coefficients. Tiny.
//  (B1 cluster_dsq   cluster granularity only, skipped in warm-up: per-cluster sum_j d_cj^2.
//                    Reads k x p gradients: 4kp; mu, sigma and eps are re-read per cluster, but a
//                    block's share (~p/blocks elements) stays in L1/L2, so HBM sees ~8p.)
//  (W  cluster_weights 1 block: Delta_c and the normalised weights. Tiny.)
//   B  combine       reads k x p gradients (4kp) + mu, sigma (8p, not in warm-up or cluster mode),
//                    writes gbar and G* (8p); per-block partials of ||gbar||^2, ||G*||^2, gbar.G*,
//                    sum Delta, #(Delta > 1).
//   F  finalize      1 block: partials -> diagnostics and the renorm scale, in block order.
//   S  rescale       G* *= scale (renorm only): 8p.
// Element granularity with renorm: 4kp + 32p bytes (k = 8: 64 B per parameter, one pass over
// k x p). Cluster granularity: 8kp + 32p (two passes over k x p).
// Launch shape: B, B1 and S use first_pass_blocks(p) blocks of kBlock threads, a function of p
// only; every reduction combines per-thread doubles with block_sum and per-block partials in
// block order, so results are bit-identical run to run (no atomics). On the emulator kBlock = 1
// (a barrier or shuffle costs every thread ~50 ns there) and a handful of blocks.
// Products-and-sums are written as fmaf so nvcc's contraction cannot make the devices differ.
#include "kernels/scarcity.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "kernels/block_reduce.cuh"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr int kBlock = kEmulatorShapes ? 1 : 256;
constexpr int kMaxBlocks = kEmulatorShapes ? 8 : 512;
constexpr std::size_t kItemsPerBlock = kEmulatorShapes ? 16384 : 8 * 256;
constexpr int kSplits = kEmulatorShapes ? 1 : 32;  // pass A blocks per tensor
constexpr int kMaxClusters = kMaxScarcityClusters;
constexpr int kMaxTensors = 65535;  // grid y limit of pass A

// Per-block partials of pass B, stat-major: partials[stat * blocks + block].
enum Stat { kGbar2, kGstar2, kDot, kSumDelta, kNumGt1, kNumStats };
// Totals written by prepare / cluster_weights.
enum Total { kSigma2, kMu2, kActive, kClusterMeanDelta, kClusterFracGt1, kNumTotals };

unsigned first_pass_blocks(std::size_t p) {
  const std::size_t blocks = (p + kItemsPerBlock - 1) / kItemsPerBlock;
  return static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(blocks, kMaxBlocks)));
}

// Scratch, carved by make_scratch (doubles first, so every array is aligned).
struct Scratch {
  double* part_sigma2;  // T * kSplits
  double* part_mu2;     // T * kSplits
  double* part_stats;   // kNumStats * blocks
  double* part_dsq;     // k * blocks
  double* totals;       // kNumTotals
  float* eps;           // T
  float* ws;            // k: n_c / b (0 for an empty cluster)
  float* pi;            // k: pi_c
  float* sigscale;      // k: sqrt(b / n_c) or 1
  float* cw;            // k: cluster-granularity weight of g_c in G*
  float* scale;         // 1: renorm factor
};

std::size_t round8(std::size_t bytes) {
  return (bytes + 7) / 8 * 8;
}

Scratch make_scratch(void* base, std::size_t p, int k, int tensors, std::size_t* total_bytes) {
  const std::size_t blocks = first_pass_blocks(p), ts = std::size_t(tensors) * kSplits;
  auto* d = static_cast<double*>(base);
  Scratch s{};
  s.part_sigma2 = d;
  s.part_mu2 = s.part_sigma2 + ts;
  s.part_stats = s.part_mu2 + ts;
  s.part_dsq = s.part_stats + kNumStats * blocks;
  s.totals = s.part_dsq + std::size_t(k) * blocks;
  auto* f = reinterpret_cast<float*>(s.totals + kNumTotals);
  s.eps = f;
  s.ws = s.eps + round8(sizeof(float) * tensors) / sizeof(float);
  s.pi = s.ws + k;
  s.sigscale = s.pi + k;
  s.cw = s.sigscale + k;
  s.scale = s.cw + k;
  if (total_bytes)
    *total_bytes = round8(reinterpret_cast<char*>(s.scale + 1) - static_cast<char*>(base));
  return s;
}

struct Params {
  ScarcityFamily family;
  float rho, log2_rho;
  int qmin;
  int k, b, tensors;
  bool sigma_per_cluster, uniform, renorm, cluster_granularity;
};

// The tensor of parameter j, for ascending j (a thread's share is ascending on both devices):
// a binary search on the first call, then a forward walk.
struct TensorCursor {
  const int* off;
  int tensors;
  int t = -1;
  std::size_t next = 0;
  __device__ int at(std::size_t j) {
    if (t < 0) {
      int lo = 0, hi = tensors - 1;  // largest t with off[t] <= j
      while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (static_cast<std::size_t>(off[mid]) <= j)
          lo = mid;
        else
          hi = mid - 1;
      }
      t = lo;
      next = static_cast<std::size_t>(off[t + 1]);
    }
    while (j >= next && t < tensors - 1) next = static_cast<std::size_t>(off[++t + 1]);
    return t;
  }
};

// ---- A: per-tensor sums of sigma^2 and mu^2 -------------------------------------------------

__global__ void __launch_bounds__(kBlock)
    tensor_sums_kernel(const float* __restrict__ mean, const float* __restrict__ stddev,
                       const int* __restrict__ offsets, Scratch s) {
  const int t = blockIdx.y;
  const int lo = offsets[t], hi = offsets[t + 1];
  const std::size_t n = hi > lo ? static_cast<std::size_t>(hi - lo) : 0;
  double acc_s = 0.0, acc_m = 0.0;
  for (std::size_t i : thread_share(n, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                                    std::size_t{gridDim.x} * blockDim.x)) {
    const double sg = stddev[lo + i], mu = mean[lo + i];
    acc_s += sg * sg;
    acc_m += mu * mu;
  }
  acc_s = block_sum<kBlock>(acc_s);
  acc_m = block_sum<kBlock>(acc_m);
  if (threadIdx.x == 0) {
    s.part_sigma2[t * kSplits + blockIdx.x] = acc_s;
    s.part_mu2[t * kSplits + blockIdx.x] = acc_m;
  }
}

// ---- P: eps per tensor, totals, per-cluster coefficients ------------------------------------

__global__ void __launch_bounds__(kBlock)
    prepare_kernel(const int* __restrict__ sizes, const int* __restrict__ offsets, Params prm,
                   Scratch s) {
  double acc_s = 0.0, acc_m = 0.0;
  for (std::size_t t : block_range(prm.tensors)) {
    double s2 = 0.0, m2 = 0.0;
    for (int i = 0; i < kSplits; ++i) {
      s2 += s.part_sigma2[t * kSplits + i];
      m2 += s.part_mu2[t * kSplits + i];
    }
    const int n = offsets[t + 1] - offsets[t];
    s.eps[t] = static_cast<float>((n > 0 ? 1e-3 * sqrt(s2 / n) : 0.0) + 1e-12);
    acc_s += s2;
    acc_m += m2;
  }
  acc_s = block_sum<kBlock>(acc_s);
  acc_m = block_sum<kBlock>(acc_m);
  if (threadIdx.x != 0) return;
  int active = 0;
  for (int c = 0; c < prm.k; ++c) active += sizes[c] > 0;
  for (int c = 0; c < prm.k; ++c) {
    const int n = sizes[c];
    const float ws = n > 0 ? static_cast<float>(static_cast<double>(n) / prm.b) : 0.0f;
    s.ws[c] = ws;
    s.pi[c] = n > 0 ? (prm.uniform ? 1.0f / static_cast<float>(active) : ws) : 0.0f;
    s.sigscale[c] = n > 0 && prm.sigma_per_cluster
                        ? static_cast<float>(sqrt(static_cast<double>(prm.b) / n))
                        : 1.0f;
  }
  s.totals[kSigma2] = acc_s;
  s.totals[kMu2] = acc_m;
  s.totals[kActive] = active;
}

// Per-cluster coefficients in shared memory (k <= kMaxClusters).
struct ClusterCoefs {
  float ws[kMaxClusters], pi[kMaxClusters], sigscale[kMaxClusters], cw[kMaxClusters];
};

__device__ __forceinline__ void load_coefs(ClusterCoefs& sh, const Scratch& s, int k) {
  for (std::size_t c : block_range(k)) {
    sh.ws[c] = s.ws[c];
    sh.pi[c] = s.pi[c];
    sh.sigscale[c] = s.sigscale[c];
    sh.cw[c] = s.cw[c];
  }
  __syncthreads();
}

// d_cj = |g - mu| / (sigma * sigscale_c + eps_j).
__device__ __forceinline__ float deviation(float g, float mu, float sg, float sigscale, float eps) {
  return fabsf(g - mu) / fmaf(sg, sigscale, eps);
}

// ---- B1: per-cluster sum of d^2 (cluster granularity) ---------------------------------------

__global__ void __launch_bounds__(kBlock)
    cluster_dsq_kernel(const float* __restrict__ grads, std::size_t p,
                       const float* __restrict__ mean, const float* __restrict__ stddev,
                       const int* __restrict__ offsets, const RingState* state, Params prm,
                       Scratch s) {
  if (state->count < prm.qmin) return;  // warm-up: Delta = 1, the sums are not used
  __shared__ ClusterCoefs sh;
  load_coefs(sh, s, prm.k);
  for (int c = 0; c < prm.k; ++c) {
    double acc = 0.0;
    if (sh.ws[c] > 0.0f) {  // uniform over the block
      const float* g = grads + static_cast<std::size_t>(c) * p;
      TensorCursor cursor{offsets, prm.tensors};
      for (std::size_t j : grid_range(p)) {
        const float d = deviation(g[j], mean[j], stddev[j], sh.sigscale[c], s.eps[cursor.at(j)]);
        acc += static_cast<double>(d) * d;
      }
    }
    acc = block_sum<kBlock>(acc);
    if (threadIdx.x == 0) s.part_dsq[static_cast<std::size_t>(c) * gridDim.x + blockIdx.x] = acc;
  }
}

// ---- W: cluster weights (cluster granularity) -----------------------------------------------

__global__ void __launch_bounds__(kBlock)
    cluster_weights_kernel(std::size_t p, int blocks, const RingState* state, Params prm,
                           Scratch s) {
  const bool warm = state->count < prm.qmin;
  __shared__ float delta[kMaxClusters];
  for (int c = 0; c < prm.k; ++c) {
    double acc = 0.0;
    if (!warm)
      for (std::size_t i : block_range(blocks))
        acc += s.part_dsq[static_cast<std::size_t>(c) * blocks + i];
    acc = block_sum<kBlock>(acc);
    if (threadIdx.x == 0)
      delta[c] = warm ? 1.0f
                      : scarcity_weight_log2(prm.family, static_cast<float>(sqrt(acc / p)), prm.rho,
                                             prm.log2_rho);
  }
  if (threadIdx.x != 0) return;
  double total = 0.0, sum_delta = 0.0, gt1 = 0.0;
  int active = 0;
  for (int c = 0; c < prm.k; ++c) {
    if (!(s.ws[c] > 0.0f)) continue;
    total += static_cast<double>(s.pi[c]) * delta[c];
    sum_delta += delta[c];
    gt1 += delta[c] > 1.0f;
    ++active;
  }
  for (int c = 0; c < prm.k; ++c)
    s.cw[c] =
        s.ws[c] > 0.0f ? static_cast<float>(s.pi[c] * static_cast<double>(delta[c]) / total) : 0.0f;
  s.totals[kClusterMeanDelta] = active > 0 ? sum_delta / active : 0.0;
  s.totals[kClusterFracGt1] = active > 0 ? gt1 / active : 0.0;
}

// ---- B: gbar and G* --------------------------------------------------------------------------

__global__ void __launch_bounds__(kBlock)
    combine_kernel(const float* __restrict__ grads, std::size_t p, const float* __restrict__ mean,
                   const float* __restrict__ stddev, const int* __restrict__ offsets,
                   const RingState* state, Params prm, Scratch s, float* __restrict__ gbar,
                   float* __restrict__ gstar) {
  __shared__ ClusterCoefs sh;
  load_coefs(sh, s, prm.k);
  // Cluster granularity folds Delta_c into cw; element granularity in warm-up has Delta = 1.
  const bool per_element = !prm.cluster_granularity && state->count >= prm.qmin;
  double bb = 0.0, ss = 0.0, bs = 0.0, sum_delta = 0.0, gt1 = 0.0;
  TensorCursor cursor{offsets, prm.tensors};
  for (std::size_t j : grid_range(p)) {
    float mu = 0.0f, sg = 0.0f, eps = 0.0f;
    if (per_element) {
      mu = mean[j];
      sg = stddev[j];
      eps = s.eps[cursor.at(j)];
    }
    float gb = 0.0f, gs = 0.0f;
    for (int c = 0; c < prm.k; ++c) {
      const float ws = sh.ws[c];
      if (!(ws > 0.0f)) continue;
      const float g = grads[static_cast<std::size_t>(c) * p + j];
      gb = fmaf(ws, g, gb);
      float w;
      if (prm.cluster_granularity) {
        w = sh.cw[c];
      } else if (per_element) {
        const float delta = scarcity_weight_log2(
            prm.family, deviation(g, mu, sg, sh.sigscale[c], eps), prm.rho, prm.log2_rho);
        w = sh.pi[c] * delta;
        sum_delta += delta;
        gt1 += delta > 1.0f;
      } else {
        w = sh.pi[c];
        sum_delta += 1.0;
      }
      gs = fmaf(w, g, gs);
    }
    gbar[j] = gb;
    gstar[j] = gs;
    bb += static_cast<double>(gb) * gb;
    ss += static_cast<double>(gs) * gs;
    bs += static_cast<double>(gb) * gs;
  }
  const double values[kNumStats] = {bb, ss, bs, sum_delta, gt1};
  for (int i = 0; i < kNumStats; ++i) {
    const double v = block_sum<kBlock>(values[i]);
    if (threadIdx.x == 0) s.part_stats[static_cast<std::size_t>(i) * gridDim.x + blockIdx.x] = v;
  }
}

// ---- F: diagnostics and the renorm scale -----------------------------------------------------

__global__ void __launch_bounds__(kBlock)
    finalize_kernel(std::size_t p, int blocks, const RingState* state, Params prm, Scratch s,
                    CombineDiagnostics* diagnostics) {
  double totals[kNumStats];
  for (int i = 0; i < kNumStats; ++i) {
    double acc = 0.0;
    for (std::size_t b : block_range(blocks))
      acc += s.part_stats[static_cast<std::size_t>(i) * blocks + b];
    totals[i] = block_sum<kBlock>(acc);
  }
  if (threadIdx.x != 0) return;
  const double nb = sqrt(totals[kGbar2]), ns = sqrt(totals[kGstar2]);
  const bool applied = isfinite(totals[kGbar2]) && isfinite(totals[kGstar2]) && ns > 0.0;
  CombineDiagnostics d;
  if (prm.cluster_granularity) {
    d.mean_delta = static_cast<float>(s.totals[kClusterMeanDelta]);
    d.frac_delta_gt1 = static_cast<float>(s.totals[kClusterFracGt1]);
  } else {
    const double n = s.totals[kActive] * static_cast<double>(p);
    d.mean_delta = static_cast<float>(n > 0 ? totals[kSumDelta] / n : 0.0);
    d.frac_delta_gt1 = static_cast<float>(n > 0 ? totals[kNumGt1] / n : 0.0);
  }
  d.cos_gstar_gbar = static_cast<float>(nb > 0.0 && ns > 0.0 ? totals[kDot] / (nb * ns) : 0.0);
  d.norm_gbar = static_cast<float>(nb);
  d.norm_gstar = static_cast<float>(ns);
  const double mu2 = s.totals[kMu2];
  d.noise_scale = static_cast<float>(state->count > 0 && mu2 > 0.0 ? s.totals[kSigma2] / mu2 : 0.0);
  d.applied = applied ? 1 : 0;
  *diagnostics = d;
  *s.scale = applied && prm.renorm ? static_cast<float>(nb / ns) : 1.0f;
}

// ---- S: G* *= scale --------------------------------------------------------------------------

__global__ void __launch_bounds__(kBlock)
    rescale_kernel(float* __restrict__ gstar, std::size_t p, const float* scale) {
  const float a = *scale;
  if (a == 1.0f) return;
  for (std::size_t j : grid_range(p)) gstar[j] *= a;
}

}  // namespace

std::size_t combine_scratch_bytes(std::size_t p, int k, int tensors) {
  std::size_t bytes = 0;
  make_scratch(nullptr, std::max<std::size_t>(p, 1), std::max(k, 1), std::max(tensors, 1), &bytes);
  return bytes;
}

void scarcity_combine(const float* cluster_grads, const Clustering& clusters,
                      const RingStatistics& stats, const TensorSegments& tensors, std::size_t p,
                      const ScarcityOptions& options, const CombineOutputs& out, void* scratch,
                      stream_t stream) {
  const int k = clusters.k, b = clusters.b;
  GQ_CHECK(k >= 1 && k <= kMaxClusters, "scarcity_combine: needs 1 <= k <= {} clusters (got {})",
           kMaxClusters, k);
  GQ_CHECK(b >= 1, "scarcity_combine: the batch size b must be >= 1 (got {})", b);
  GQ_CHECK(p >= 1 && p <= static_cast<std::size_t>(INT_MAX),
           "scarcity_combine: needs 1 <= p <= {} parameters (tensor offsets are int; got {})",
           INT_MAX, p);
  GQ_CHECK(tensors.count >= 1 && tensors.count <= kMaxTensors,
           "scarcity_combine: needs 1 <= tensors <= {} (got {})", kMaxTensors, tensors.count);
  GQ_CHECK(options.rho >= 1.0f, "scarcity_combine: rho must be >= 1 (got {})", options.rho);
  GQ_CHECK(options.qmin >= 0, "scarcity_combine: qmin must be >= 0 (got {})", options.qmin);
  GQ_CHECK(cluster_grads && clusters.sizes && stats.mean && stats.stddev && stats.state &&
               tensors.offsets && out.gbar && out.gstar && out.diagnostics && scratch,
           "scarcity_combine: every pointer argument must be non-null");
  const Scratch s = make_scratch(scratch, p, k, tensors.count, nullptr);
  const Params prm{options.family,
                   options.rho,
                   std::log2(options.rho),
                   options.qmin,
                   k,
                   b,
                   tensors.count,
                   options.sigma_scale == SigmaScale::cluster,
                   options.cluster_weight == ClusterWeight::uniform,
                   options.renorm,
                   options.granularity == Granularity::cluster};
  const unsigned blocks = first_pass_blocks(p);
  launch(tensor_sums_kernel, dim3(kSplits, static_cast<unsigned>(tensors.count)), kBlock, 0, stream,
         stats.mean, stats.stddev, tensors.offsets, s);
  launch(prepare_kernel, 1, kBlock, 0, stream, clusters.sizes, tensors.offsets, prm, s);
  if (prm.cluster_granularity) {
    launch(cluster_dsq_kernel, blocks, kBlock, 0, stream, cluster_grads, p, stats.mean,
           stats.stddev, tensors.offsets, stats.state, prm, s);
    launch(cluster_weights_kernel, 1, kBlock, 0, stream, p, static_cast<int>(blocks), stats.state,
           prm, s);
  }
  launch(combine_kernel, blocks, kBlock, 0, stream, cluster_grads, p, stats.mean, stats.stddev,
         tensors.offsets, stats.state, prm, s, out.gbar, out.gstar);
  launch(finalize_kernel, 1, kBlock, 0, stream, p, static_cast<int>(blocks), stats.state, prm, s,
         out.diagnostics);
  if (options.renorm) launch(rescale_kernel, blocks, kBlock, 0, stream, out.gstar, p, s.scale);
}

}  // namespace gq::kernels
