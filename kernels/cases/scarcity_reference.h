// Grad Queue's combine (kernels/scarcity.h) as docs/GRADQUEUE.md §4 defines it, in double on the
// host, with the problems it is checked on and their device buffers: the scarcity kernel cases'
// reference and tests/kernels/test_scarcity.cpp's (every option combination, the identities of
// §4.4, warm-up, non-finite inputs).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/scarcity.h"
#include "runtime/memory.h"

namespace gq::cases {

// k cluster-mean gradients of p parameters (k x p), their sizes (summing to b), the ring's mean
// and standard deviation, tensor segments (the second with sigma 0) and the entries the ring holds.
struct ScarcityProblem {
  std::size_t p;
  int k, b;
  std::vector<int> sizes;
  std::vector<float> grads;
  std::vector<float> mean, sd;
  std::vector<int> offsets;
  int count;
};

// Uneven cluster sizes; cluster `empty` (if >= 0) has size 0 and a NaN row, which must never be
// read. z-scores mostly within a few standard deviations, some far outliers.
ScarcityProblem scarcity_problem(std::size_t p, int k, int count, std::uint64_t seed,
                                 int empty = -1);

// Delta_rho(d) in double.
double scarcity_weight_ref(kernels::ScarcityFamily family, double d, double rho);

struct CombineReference {
  std::vector<double> gbar, gstar;
  std::vector<double> gbar_scale, gstar_scale;  // the same sums of their terms' magnitudes
  double mean_delta = 0, frac_gt1 = 0, cos = 0, norm_gbar = 0, norm_gstar = 0, noise = 0;
  int applied = 0;
};

CombineReference combine_reference(const ScarcityProblem& pr, const kernels::ScarcityOptions& o);

// The problem on the device with poisoned outputs; launch() runs scarcity_combine.
struct CombineBuffers {
  CombineBuffers(const ScarcityProblem& pr, const kernels::ScarcityOptions& o);
  void launch();
  ScarcityProblem problem;
  kernels::ScarcityOptions options;
  DeviceBuffer<float> grads, mean, sd, gbar, gstar;
  DeviceBuffer<int> sizes, offsets;
  DeviceBuffer<kernels::RingState> state{1};
  DeviceBuffer<kernels::CombineDiagnostics> diagnostics{1};
  DeviceBuffer<char> scratch;
};

}  // namespace gq::cases
