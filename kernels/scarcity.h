// Grad Queue's scarcity weights and the combine step (docs/GRADQUEUE.md §4): from the per-cluster
// mean gradients and the per-parameter mean and standard deviation over the gradient ring, the
// batch gradient gbar = sum_c (n_c / b) g_c (what enters the ring) and the re-weighted gradient G*
// the optimizer takes, plus per-step diagnostics. Everything stays on the device: cluster sizes,
// the ring state and the diagnostics are device memory, and no call waits on the host.
#pragma once

#include <cmath>
#include <cstddef>

#include "kernels/clustering.h"
#include "kernels/gradient_ring.h"
#include "runtime/host_device.h"
#include "runtime/stream.h"

namespace gq::kernels {

enum class ScarcityFamily { powtanh, clip, chebyshev, none };  // docs/GRADQUEUE.md §4.2
enum class SigmaScale { cluster, batch };
enum class Granularity { element, cluster };  // docs/GRADQUEUE.md §4.4
enum class ClusterWeight { size, uniform };

struct ScarcityOptions {
  ScarcityFamily family = ScarcityFamily::powtanh;
  float rho = 2.0f;  // >= 1
  SigmaScale sigma_scale = SigmaScale::cluster;
  Granularity granularity = Granularity::element;
  ClusterWeight cluster_weight = ClusterWeight::size;
  bool renorm = true;
  int qmin = 4;  // warm-up: while the queue holds fewer entries, Delta = 1
};

// Written to device memory by scarcity_combine.
struct CombineDiagnostics {
  float mean_delta;      // mean Delta over (c, j) with n_c > 0 (element) or over non-empty clusters
  float frac_delta_gt1;  // fraction of those with Delta > 1
  float cos_gstar_gbar;  // cos(G*, gbar); 0 when either is zero
  float norm_gbar;       // ||gbar||
  float norm_gstar;      // ||G*|| before the renorm rescale (after it, ||G*|| = norm_gbar)
  float noise_scale;     // sum_j sigma_j^2 / sum_j mu_j^2 from the queue; 0 if empty or mu = 0
  int applied;           // 0: gbar or G* not finite, or ||G*|| = 0: the caller skips the step
};

// Delta_rho(d) with log2(rho) precomputed (the kernels hoist it out of their loops).
GQ_HD float scarcity_weight_log2(ScarcityFamily family, float d, float rho, float log2_rho) {
  switch (family) {
    case ScarcityFamily::powtanh: {
      // rho^tanh(d - 1) as 2^(tanh * log2 rho), tanh x = 1 - 2 / (e^2x + 1): two cheap libm
      // calls instead of powf and tanhf (several times faster on the emulator, where this is the
      // hot loop of the combine; equal to ~1e-7 relative). e^2x = inf gives tanh = 1.
      const float e = expf(2.0f * (d - 1.0f));
      return exp2f((1.0f - 2.0f / (e + 1.0f)) * log2_rho);
    }
    case ScarcityFamily::clip:
    case ScarcityFamily::chebyshev: {
      const float x = family == ScarcityFamily::clip ? d : d * d;
      const float lo = 1.0f / rho;
      return x < lo ? lo : (x > rho ? rho : x);  // comparisons keep a NaN
    }
    case ScarcityFamily::none:
    default:
      return 1.0f;
  }
}

// Scalar weight function Delta_rho(d), usable on host and device; the kernels compute the same.
// powtanh: rho^tanh(d - 1); clip: clip(d, 1/rho, rho); chebyshev: clip(d^2, 1/rho, rho); none: 1.
// A NaN d gives NaN (except none).
GQ_HD float scarcity_weight(ScarcityFamily family, float d, float rho) {
  return scarcity_weight_log2(family, d, rho, log2f(rho));
}

// Most clusters scarcity_combine accepts.
inline constexpr int kMaxScarcityClusters = 64;

// Scratch bytes scarcity_combine needs for p parameters, k clusters and `tensors` tensors.
std::size_t combine_scratch_bytes(std::size_t p, int k, int tensors);

// The parameter vector's split into tensors: offsets[count + 1] device ints, ascending, first 0 and
// last p (eps_j = 1e-3 * RMS(sigma over j's tensor) + 1e-12).
struct TensorSegments {
  const int* offsets = nullptr;
  int count = 0;
};

struct CombineOutputs {    // device memory
  float* gbar = nullptr;   // p: sum_c (n_c / b) g_c
  float* gstar = nullptr;  // p: G* (docs/GRADQUEUE.md §4.4), rescaled to ||gbar|| when renorm
  CombineDiagnostics* diagnostics = nullptr;
};

// cluster_grads: k x p (row c = g_c, the mean gradient of cluster c); clusters: k = clusters.k,
// b = clusters.b and the sizes n_c >= 0 summing to b (empty clusters are skipped, their rows never
// read; order and offsets are not read); stats: the ring's mean and std (ring_statistics) and its
// state, Delta = 1 while state->count < options.qmin.
// When diagnostics->applied = 0, gstar is left as computed (not rescaled; it may be NaN or zero)
// and the caller must skip the step.
// scratch: combine_scratch_bytes(p, k, tensors.count) bytes, allocated once by the caller.
// Launches: element granularity 5 (4 without renorm), cluster granularity 7 (6).
void scarcity_combine(const float* cluster_grads, const Clustering& clusters,
                      const RingStatistics& stats, const TensorSegments& tensors, std::size_t p,
                      const ScarcityOptions& options, const CombineOutputs& out, void* scratch,
                      stream_t stream = nullptr);

}  // namespace gq::kernels
