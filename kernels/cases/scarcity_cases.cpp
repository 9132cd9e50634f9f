// Grad Queue's combine (kernels/scarcity.h) sized [p, k]: k uneven clusters (cluster 1 empty when
// k >= 3, its row NaN and never read), three tensors (the second with sigma 0), a ring of 6
// entries (or 3: warm-up, Delta = 1). The default options and each option changed alone (the
// families clip, chebyshev and none, sigma at batch scale, cluster granularity, uniform cluster
// weights, no renorm). Outputs: gbar, G*, then the diagnostics (mean and fraction of Delta > 1,
// cos(G*, gbar), the two norms, the noise scale, applied). Against docs/GRADQUEUE.md §4 in double
// (kernels/cases/scarcity_reference.h, which tests/kernels/test_scarcity shares). Delta's
// expf / exp2f differ by an ulp or two between libdevice and glibc, and the norms are reductions
// the devices share among threads differently: rounding-level agreement. Every option
// combination, the identities of §4.4, non-finite and zero gradients stay in test_scarcity.
#include "kernels/cases/scarcity_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cases/case_files.h"
#include "runtime/rng.h"

namespace gq::cases {

using kernels::ClusterWeight, kernels::Granularity, kernels::ScarcityFamily, kernels::SigmaScale;

double scarcity_weight_ref(ScarcityFamily family, double d, double rho) {
  switch (family) {
    case ScarcityFamily::powtanh:
      return std::pow(rho, std::tanh(d - 1.0));
    case ScarcityFamily::clip:
      return std::clamp(d, 1.0 / rho, rho);
    case ScarcityFamily::chebyshev:
      return std::clamp(d * d, 1.0 / rho, rho);
    case ScarcityFamily::none:
      return 1.0;
  }
  return 1.0;
}

namespace {

// eps_j = 1e-3 RMS(sigma over j's tensor) + 1e-12; also sum_j sigma_j^2.
std::vector<double> eps_of(const ScarcityProblem& pr, double& s2_all) {
  std::vector<double> eps(pr.p);
  s2_all = 0;
  for (std::size_t t = 0; t + 1 < pr.offsets.size(); ++t) {
    double s2 = 0;
    for (int j = pr.offsets[t]; j < pr.offsets[t + 1]; ++j) s2 += double(pr.sd[j]) * pr.sd[j];
    const int n = pr.offsets[t + 1] - pr.offsets[t];
    for (int j = pr.offsets[t]; j < pr.offsets[t + 1]; ++j)
      eps[j] = 1e-3 * std::sqrt(s2 / n) + 1e-12;
    s2_all += s2;
  }
  return eps;
}

// The weight of each cluster's row in G* (element granularity: per parameter, `delta(c, j)`), and
// the Delta statistics.
template <class Delta>
void weighted_rows(const ScarcityProblem& pr, const kernels::ScarcityOptions& o,
                   const std::vector<double>& pi, int active, Delta delta, CombineReference& r) {
  const auto g = [&](int c, std::size_t j) { return double(pr.grads[c * pr.p + j]); };
  double sum_delta = 0, gt1 = 0;
  if (o.granularity == Granularity::element) {
    for (std::size_t j = 0; j < pr.p; ++j)
      for (int c = 0; c < pr.k; ++c) {
        if (pr.sizes[c] <= 0) continue;
        const double d = delta(c, j);
        r.gstar[j] += pi[c] * d * g(c, j);
        r.gstar_scale[j] += pi[c] * d * std::fabs(g(c, j));
        sum_delta += d, gt1 += d > 1.0;
      }
    r.mean_delta = sum_delta / (double(active) * pr.p);
    r.frac_gt1 = gt1 / (double(active) * pr.p);
    return;
  }
  std::vector<double> w(pr.k, 0.0);
  double total = 0;
  for (int c = 0; c < pr.k; ++c) {
    if (pr.sizes[c] <= 0) continue;
    const double d = delta(c, pr.p);  // j = p: the cluster's RMS deviation
    w[c] = pi[c] * d;
    total += w[c];
    sum_delta += d, gt1 += d > 1.0;
  }
  for (std::size_t j = 0; j < pr.p; ++j)
    for (int c = 0; c < pr.k; ++c)
      if (pr.sizes[c] > 0)
        r.gstar[j] += w[c] / total * g(c, j), r.gstar_scale[j] += w[c] / total * std::fabs(g(c, j));
  r.mean_delta = sum_delta / active;
  r.frac_gt1 = gt1 / active;
}

}  // namespace

CombineReference combine_reference(const ScarcityProblem& pr, const kernels::ScarcityOptions& o) {
  const std::size_t p = pr.p;
  double s2_all = 0, m2_all = 0;
  const std::vector<double> eps = eps_of(pr, s2_all);
  for (float m : pr.mean) m2_all += double(m) * m;
  int active = 0;
  for (int n : pr.sizes) active += n > 0;
  std::vector<double> pi(pr.k, 0.0), scale(pr.k, 1.0);
  for (int c = 0; c < pr.k; ++c) {
    if (pr.sizes[c] <= 0) continue;
    pi[c] = o.cluster_weight == ClusterWeight::size ? double(pr.sizes[c]) / pr.b : 1.0 / active;
    if (o.sigma_scale == SigmaScale::cluster) scale[c] = std::sqrt(double(pr.b) / pr.sizes[c]);
  }
  const auto dev = [&](int c, std::size_t j) {
    return std::fabs(pr.grads[c * p + j] - double(pr.mean[j])) / (pr.sd[j] * scale[c] + eps[j]);
  };
  const bool warm = pr.count < o.qmin;
  CombineReference r;
  for (auto* v : {&r.gbar, &r.gstar, &r.gbar_scale, &r.gstar_scale}) v->assign(p, 0.0);
  weighted_rows(
      pr, o, pi, active,
      [&](int c, std::size_t j) {
        if (warm) return 1.0;
        if (j < p) return scarcity_weight_ref(o.family, dev(c, j), o.rho);
        double dsq = 0;
        for (std::size_t i = 0; i < p; ++i) dsq += dev(c, i) * dev(c, i);
        return scarcity_weight_ref(o.family, std::sqrt(dsq / p), o.rho);
      },
      r);
  for (std::size_t j = 0; j < p; ++j)
    for (int c = 0; c < pr.k; ++c)
      if (pr.sizes[c] > 0) {
        r.gbar[j] += double(pr.sizes[c]) / pr.b * pr.grads[c * p + j];
        r.gbar_scale[j] += double(pr.sizes[c]) / pr.b * std::fabs(pr.grads[c * p + j]);
      }
  double bb = 0, ss = 0, bs = 0;
  for (std::size_t j = 0; j < p; ++j)
    bb += r.gbar[j] * r.gbar[j], ss += r.gstar[j] * r.gstar[j], bs += r.gbar[j] * r.gstar[j];
  r.norm_gbar = std::sqrt(bb);
  r.norm_gstar = std::sqrt(ss);
  r.applied = std::isfinite(bb) && std::isfinite(ss) && ss > 0;
  r.cos = r.norm_gbar > 0 && r.norm_gstar > 0 ? bs / (r.norm_gbar * r.norm_gstar) : 0.0;
  r.noise = pr.count > 0 && m2_all > 0 ? s2_all / m2_all : 0.0;
  if (o.renorm && r.applied)
    for (std::size_t j = 0; j < p; ++j)
      r.gstar[j] *= r.norm_gbar / r.norm_gstar, r.gstar_scale[j] *= r.norm_gbar / r.norm_gstar;
  return r;
}

ScarcityProblem scarcity_problem(std::size_t p, int k, int count, std::uint64_t seed, int empty) {
  HostRng rng(seed, 0x5ca);
  ScarcityProblem pr{p, k, 0, {}, {}, {}, {}, {0}, count};
  for (int c = 0; c < k; ++c) {
    const int n = c == empty ? 0 : 1 + 7 * c + static_cast<int>(rng.uniform() * 40);
    pr.sizes.push_back(n);
    pr.b += n;
  }
  std::size_t at = 0;  // tensors of uneven sizes
  for (std::size_t len : {p / 2 + 1, p / 16 + 1, p / 8 + 3}) {
    at = std::min(p, at + len);
    if (at > static_cast<std::size_t>(pr.offsets.back()))
      pr.offsets.push_back(static_cast<int>(at));
  }
  if (pr.offsets.back() != static_cast<int>(p)) pr.offsets.push_back(static_cast<int>(p));
  const int zero_lo = pr.offsets.size() > 2 ? pr.offsets[1] : -1,
            zero_hi = pr.offsets.size() > 2 ? pr.offsets[2] : -1;
  for (std::size_t j = 0; j < p; ++j) {
    const double scale = std::pow(10.0, -2.0 + 2.0 * rng.uniform());
    pr.mean.push_back(static_cast<float>(scale * (rng.uniform() - 0.3)));
    const bool zero = static_cast<int>(j) >= zero_lo && static_cast<int>(j) < zero_hi;
    pr.sd.push_back(zero ? 0.0f : static_cast<float>(scale * (0.05 + 0.5 * rng.uniform())));
  }
  for (int c = 0; c < k; ++c)
    for (std::size_t j = 0; j < p; ++j) {
      const double spread = std::sqrt(double(pr.b) / std::max(1, pr.sizes[c]));
      const double z = 3.0 * (rng.uniform() - 0.5) * (rng.uniform() < 0.05 ? 10.0 : 1.0);
      pr.grads.push_back(c == empty ? std::numeric_limits<float>::quiet_NaN()
                                    : static_cast<float>(pr.mean[j] + z * pr.sd[j] * spread +
                                                         1e-4 * (rng.uniform() - 0.5)));
    }
  return pr;
}

CombineBuffers::CombineBuffers(const ScarcityProblem& pr, const kernels::ScarcityOptions& o)
    : problem(pr),
      options(o),
      grads(std::span<const float>(pr.grads)),
      mean(std::span<const float>(pr.mean)),
      sd(std::span<const float>(pr.sd)),
      gbar(pr.p),
      gstar(pr.p),
      sizes(std::span<const int>(pr.sizes)),
      offsets(std::span<const int>(pr.offsets)),
      scratch(kernels::combine_scratch_bytes(pr.p, pr.k, int(pr.offsets.size()) - 1)) {
  kernels::RingState st = kernels::initial_ring_state(std::max(1, o.qmin), 64, 8);
  st.count = pr.count;
  state.upload(std::span<const kernels::RingState>(&st, 1));
  for (auto* b : {&gbar, &gstar}) b->fill_bytes(0xff);
  diagnostics.fill_bytes(0xff);
  scratch.fill_bytes(0xff);
}

void CombineBuffers::launch() {
  kernels::scarcity_combine(grads.data(), {.sizes = sizes.data(), .k = problem.k, .b = problem.b},
                            {mean.data(), sd.data(), state.data()},
                            {offsets.data(), int(problem.offsets.size()) - 1}, problem.p, options,
                            {gbar.data(), gstar.data(), diagnostics.data()}, scratch.data());
}

namespace {

ScarcityProblem case_problem(const Dims& size, std::uint64_t seed, int count) {
  const int k = static_cast<int>(size[1]);
  return scarcity_problem(size[0], k, count, seed, k >= 3 ? 1 : -1);
}

// Scales (the case's rtol is 1e-5): gbar's terms' magnitudes a tenth (a k-term float sum);
// G*'s the same formula on |g| (Delta's libm calls and the norms of the renorm); the fraction of
// Delta > 1 2e-3 absolute (a Delta within rounding of 1 counts either way), cos 1e-5 absolute,
// applied exact.
Reference scaled(const ScarcityProblem& pr, const kernels::ScarcityOptions& o) {
  const CombineReference r = combine_reference(pr, o);
  ScaledValues out;
  for (std::size_t j = 0; j < pr.p; ++j) out.add(r.gbar[j], 0.1 * r.gbar_scale[j]);
  for (std::size_t j = 0; j < pr.p; ++j) out.add(r.gstar[j], r.gstar_scale[j]);
  out.add(r.mean_delta, r.mean_delta);
  out.add(r.frac_gt1, 200);
  out.add(r.cos, 1);
  out.add(r.norm_gbar, r.norm_gbar);
  out.add(r.norm_gstar, r.norm_gstar);
  out.add(r.noise, r.noise);
  out.add(r.applied, 0);
  return out.reference();
}

KernelCase combine_case(const char* name, kernels::ScarcityOptions o, int count = 6) {
  KernelCase c;
  c.name = std::string("scarcity/combine ") + name;
  c.prepare = [o, count](const Dims& size, std::uint64_t seed) {
    auto b = std::make_shared<CombineBuffers>(case_problem(size, seed, count), o);
    return PreparedCase{[b] { b->launch(); },
                        [b] {
                          std::vector<float> r = b->gbar.to_host();
                          const std::vector<float> gs = b->gstar.to_host();
                          r.insert(r.end(), gs.begin(), gs.end());
                          const kernels::CombineDiagnostics d = b->diagnostics.to_host()[0];
                          for (float v : {d.mean_delta, d.frac_delta_gt1, d.cos_gstar_gbar,
                                          d.norm_gbar, d.norm_gstar, d.noise_scale})
                            r.push_back(v);
                          r.push_back(float(d.applied));
                          return r;
                        }};
  };
  c.reference = [o, count](const Dims& size, std::uint64_t seed) {
    return scaled(case_problem(size, seed, count), o);
  };
  c.vs_reference = {0, 1e-5};
  c.gpu_vs_emulator = {1e-6, 1e-5};
  c.bytes_per_element = 12 + 8.0 / 5;  // per row element: read ~3 times; gbar, G* over k = 5
  c.sizes = {{1, 1}, {31, 2}, {257, 3}, {4097, 5}, {65539, 5}, {257, 64}};
  c.parity_sizes = {{65539, 5}};
  c.bench_size = {1 << 20, 5};
  return c;
}

kernels::ScarcityOptions with(void (*change)(kernels::ScarcityOptions&)) {
  kernels::ScarcityOptions o;
  change(o);
  return o;
}

}  // namespace

std::vector<KernelCase> scarcity_cases() {
  using O = kernels::ScarcityOptions;
  return {
      combine_case("default", O{}),
      combine_case("warm-up", O{}, 3),
      combine_case("clip rho=3", with([](O& o) { o.family = ScarcityFamily::clip, o.rho = 3; })),
      combine_case("chebyshev", with([](O& o) { o.family = ScarcityFamily::chebyshev; })),
      combine_case("none", with([](O& o) { o.family = ScarcityFamily::none; })),
      combine_case("sigma=batch", with([](O& o) { o.sigma_scale = SigmaScale::batch; })),
      combine_case("uniform weights",
                   with([](O& o) { o.cluster_weight = ClusterWeight::uniform; })),
      combine_case("no renorm", with([](O& o) { o.renorm = false; })),
      combine_case("cluster", with([](O& o) { o.granularity = Granularity::cluster; })),
      combine_case("cluster chebyshev", with([](O& o) {
                     o.granularity = Granularity::cluster, o.family = ScarcityFamily::chebyshev;
                   })),
  };
}

}  // namespace gq::cases
