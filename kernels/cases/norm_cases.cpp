// The normalisation kernels (kernels/norm.h): BatchNorm2d sized [n, c, hw] (training forward with
// its saved statistics and running statistics, eval forward, backward) and GroupNorm sized
// [n, groups, channels per group, hw] (forward with its statistics, backward), the backward passes'
// dgamma and dbeta written and accumulated; both also with bf16 storage of x, dy, y and dx.
// Channels with distinct offsets and scales; channel counts that are not multiples of the
// emulator's 4 side-by-side channels; segments of one element, and longer than a block. The devices
// split the statistics' sums among threads differently: GPU and emulator agree to rounding. A
// value's tolerance scales with its terms' magnitudes (|x| and |mean|, not |x - mean|). Finite
// differences stay in tests/kernels/test_norm.
#include <cmath>
#include <memory>

#include "kernels/cases/case_files.h"
#include "kernels/norm.h"

namespace gq::cases {
namespace {

constexpr float kEps = 1e-5f, kMomentum = 0.1f;

struct Norm {
  int n, c, hw, groups;  // groups 0: BatchNorm, a segment per channel
  bool half;             // x, dy, y and dx stored in bf16
  Norm(const Dims& d, bool group, bool half_ = false)
      : n(static_cast<int>(d[0])),
        c(static_cast<int>(group ? d[1] * d[2] : d[1])),
        hw(static_cast<int>(group ? d[3] : d[2])),
        groups(group ? static_cast<int>(d[1]) : 0),
        half(half_) {}
  std::size_t size() const { return std::size_t(n) * c * hw; }
  int segments() const { return groups == 0 ? c : n * groups; }
  int channel(std::size_t e) const { return static_cast<int>(e / hw % c); }
  int segment(std::size_t e) const {
    const int ch = channel(e), i = static_cast<int>(e / hw / c);
    return groups == 0 ? ch : i * groups + ch / (c / groups);
  }
};

enum In { kX, kGamma, kBeta, kDy, kRunMean, kRunVar, kDgamma0, kDbeta0, kSaveMean, kSaveInvstd };

// The inputs, indexed by In (the saved statistics are written by a forward pass in prepare); with
// bf16 storage x and dy as bf16 holds them.
std::vector<std::vector<float>> inputs(const Norm& s, std::uint64_t seed) {
  std::vector<float> x = seeded(s.size(), seed, 1, -1.5f, 2.5f);
  for (std::size_t e = 0; e < x.size(); ++e)  // per-channel statistics that differ
    x[e] = x[e] * (0.5f + 0.3f * s.channel(e)) + 0.7f * s.channel(e);
  const auto stored = [&](std::vector<float> v) {
    return s.half ? as_stored<bf16>(std::move(v)) : v;
  };
  return {stored(x),
          seeded(s.c, seed, 2, 0.5f, 1.5f),
          seeded(s.c, seed, 3, -0.5f, 0.5f),
          stored(seeded(s.size(), seed, 4)),
          seeded(s.c, seed, 5),
          seeded(s.c, seed, 6, 0.5f, 2.0f),
          seeded(s.c, seed, 7),
          seeded(s.c, seed, 8),
          std::vector<float>(s.segments()),
          std::vector<float>(s.segments())};
}

struct Stats {
  std::vector<double> mean, var, abs_mean, count;
  Stats(const Norm& s, const std::vector<float>& x)
      : mean(s.segments()), var(s.segments()), abs_mean(s.segments()), count(s.segments()) {
    for (std::size_t e = 0; e < x.size(); ++e) {
      mean[s.segment(e)] += x[e];
      abs_mean[s.segment(e)] += std::fabs(x[e]);
      count[s.segment(e)] += 1;
    }
    for (int k = 0; k < s.segments(); ++k) mean[k] /= count[k], abs_mean[k] /= count[k];
    for (std::size_t e = 0; e < x.size(); ++e)
      var[s.segment(e)] += (x[e] - mean[s.segment(e)]) * (x[e] - mean[s.segment(e)]);
    for (int k = 0; k < s.segments(); ++k) var[k] /= count[k];
  }
  double invstd(int k) const { return 1.0 / std::sqrt(var[k] + kEps); }
  // x normalised, and its scale: (|x| + |mean|) invstd.
  double xhat(const Norm& s, const std::vector<float>& x, std::size_t e) const {
    return (x[e] - mean[s.segment(e)]) * invstd(s.segment(e));
  }
  double xscale(const Norm& s, const std::vector<float>& x, std::size_t e) const {
    return (std::fabs(x[e]) + std::fabs(mean[s.segment(e)])) * invstd(s.segment(e));
  }
};

// y, the saved mean and invstd, and (BatchNorm) the running mean and variance.
Reference forward_reference(const Norm& s, std::uint64_t seed) {
  const std::vector<std::vector<float>> in = inputs(s, seed);
  const std::vector<float>&x = in[kX], &gamma = in[kGamma], &beta = in[kBeta];
  const Stats st(s, x);
  ScaledValues out;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const int ch = s.channel(e);
    out.add(gamma[ch] * st.xhat(s, x, e) + beta[ch],
            std::fabs(gamma[ch]) * st.xscale(s, x, e) + std::fabs(beta[ch]));
  }
  for (int k = 0; k < s.segments(); ++k) out.add(st.mean[k], st.abs_mean[k]);
  for (int k = 0; k < s.segments(); ++k) out.add(st.invstd(k), st.invstd(k));
  const double keep = 1 - double(kMomentum);
  for (int k = 0; s.groups == 0 && k < s.c; ++k) {
    const double rm = in[kRunMean][k];
    out.add(keep * rm + kMomentum * st.mean[k], keep * std::fabs(rm) + kMomentum * st.abs_mean[k]);
  }
  for (int k = 0; s.groups == 0 && k < s.c; ++k) {
    const double rv =
        keep * in[kRunVar][k] + kMomentum * st.var[k] * st.count[k] / (st.count[k] - 1);
    out.add(rv, rv);
  }
  return out.reference();
}

// dx, then dgamma and dbeta (plus their starting values when accumulating).
Reference backward_reference(const Norm& s, std::uint64_t seed, bool accumulate) {
  const std::vector<std::vector<float>> in = inputs(s, seed);
  const std::vector<float>&x = in[kX], &gamma = in[kGamma], &dy = in[kDy];
  const Stats st(s, x);
  std::vector<double> sum_d(s.segments()), sum_dx(s.segments()), abs_d(s.segments()),
      abs_dx(s.segments()), dgamma(s.c), dbeta(s.c), dgamma_m(s.c), dbeta_m(s.c);
  for (std::size_t e = 0; e < x.size(); ++e) {
    const int ch = s.channel(e), k = s.segment(e);
    const double d = dy[e] * double(gamma[ch]), xh = st.xhat(s, x, e), xs = st.xscale(s, x, e);
    sum_d[k] += d, sum_dx[k] += d * xh, abs_d[k] += std::fabs(d), abs_dx[k] += std::fabs(d) * xs;
    dgamma[ch] += dy[e] * xh, dbeta[ch] += dy[e];
    dgamma_m[ch] += std::fabs(dy[e]) * xs, dbeta_m[ch] += std::fabs(dy[e]);
  }
  ScaledValues out;
  for (std::size_t e = 0; e < x.size(); ++e) {
    const int k = s.segment(e);
    const double d = dy[e] * double(gamma[s.channel(e)]), n = st.count[k];
    out.add(st.invstd(k) * (d - sum_d[k] / n - st.xhat(s, x, e) * sum_dx[k] / n),
            st.invstd(k) * (std::fabs(d) + abs_d[k] / n + st.xscale(s, x, e) * abs_dx[k] / n));
  }
  for (int ch = 0; ch < s.c; ++ch) {
    const double start = accumulate ? in[kDgamma0][ch] : 0.0;
    out.add(dgamma[ch] + start, dgamma_m[ch] + std::fabs(start));
  }
  for (int ch = 0; ch < s.c; ++ch) {
    const double start = accumulate ? in[kDbeta0][ch] : 0.0;
    out.add(dbeta[ch] + start, dbeta_m[ch] + std::fabs(start));
  }
  return out.reference();
}

enum class Op { bn_train, bn_eval, bn_backward, gn_forward, gn_backward };

// With bf16 storage, x, dy and the first output (y or dx) in bf16 (b.in[kX], b.in[kDy] and
// b.out[0] unused).
struct Bf16Io {
  DeviceBuffer<bf16> x, dy, out;
};

// Every op, on x, dy and the first output (y or dx) stored as T.
template <class T>
void launch_as(Op op, const Norm& s, Buffers& b, bool accumulate, const T* x, const T* dy, T* y) {
  const auto in = [&](In i) { return b.in[i].data(); };
  const auto out = [&](int i) { return b.out[i].data(); };
  if (op == Op::bn_train)
    kernels::batchnorm2d_forward_train(s.n, s.c, s.hw, x, in(kGamma), in(kBeta), y, out(1), out(2),
                                       out(3), out(4), kMomentum, kEps);
  if (op == Op::bn_eval)
    kernels::batchnorm2d_forward_eval(s.n, s.c, s.hw, x, in(kGamma), in(kBeta), in(kRunMean),
                                      in(kRunVar), kEps, y);
  if (op == Op::bn_backward)
    kernels::batchnorm2d_backward(s.n, s.c, s.hw, x, dy, in(kGamma), in(kSaveMean), in(kSaveInvstd),
                                  y, out(1), out(2), accumulate);
  if (op == Op::gn_forward)
    kernels::groupnorm_forward(s.n, s.c, s.hw, s.groups, x, in(kGamma), in(kBeta), kEps, y, out(1),
                               out(2));
  if (op == Op::gn_backward)
    kernels::groupnorm_backward(s.n, s.c, s.hw, s.groups, x, dy, in(kGamma), in(kSaveMean),
                                in(kSaveInvstd), y, out(1), out(2), accumulate);
}

void launch(Op op, const Norm& s, Buffers& b, bool accumulate, Bf16Io* half) {
  if (half)
    return launch_as(op, s, b, accumulate, half->x.data(), half->dy.data(), half->out.data());
  launch_as(op, s, b, accumulate, b.in[kX].data(), b.in[kDy].data(), b.out[0].data());
}

// The outputs in order, the first (y or dx) from the bf16 buffer where it is one.
std::vector<float> outputs(const Buffers& b, const Bf16Io* half) {
  std::vector<float> all = b.outputs();
  if (!half) return all;
  std::vector<float> first = host_floats(half->out);
  first.insert(first.end(), all.begin() + static_cast<std::ptrdiff_t>(first.size()), all.end());
  return first;
}

PreparedCase prepare(Op op, const Dims& size, std::uint64_t seed, bool accumulate, bool in_bf16) {
  const Norm s(size, op == Op::gn_forward || op == Op::gn_backward, in_bf16);
  const std::size_t segs = s.segments(), c = s.c;
  const bool backward = op == Op::bn_backward || op == Op::gn_backward;
  const std::vector<std::size_t> sizes =
      op == Op::bn_train  ? std::vector<std::size_t>{s.size(), c, c, c, c}
      : op == Op::bn_eval ? std::vector<std::size_t>{s.size()}
      : backward          ? std::vector<std::size_t>{s.size(), c, c}
                          : std::vector<std::size_t>{s.size(), segs, segs};
  const std::vector<std::vector<float>> in = inputs(s, seed);
  auto b = buffers(in, sizes);
  std::shared_ptr<Bf16Io> half;
  if (in_bf16) {
    half = std::make_shared<Bf16Io>(Bf16Io{
        device_values<bf16>(in[kX]), device_values<bf16>(in[kDy]), DeviceBuffer<bf16>(s.size())});
    half->out.fill_bytes(0xff);
  }
  const auto copy = [&](int to, In from, std::size_t n) {
    copy_on_device(b->out[to].data(), b->in[from].data(), n * sizeof(float));
  };
  if (op == Op::bn_train) copy(3, kRunMean, c), copy(4, kRunVar, c);  // updated in place
  if (backward) {  // the saved statistics, from the forward pass; dx poisoned again
    float* y = b->out[0].data();
    if (op == Op::bn_backward)
      kernels::batchnorm2d_forward_train(s.n, s.c, s.hw, b->in[kX].data(), b->in[kGamma].data(),
                                         b->in[kBeta].data(), y, b->in[kSaveMean].data(),
                                         b->in[kSaveInvstd].data(), b->in[kRunMean].data(),
                                         b->in[kRunVar].data(), kMomentum, kEps);
    else
      kernels::groupnorm_forward(s.n, s.c, s.hw, s.groups, b->in[kX].data(), b->in[kGamma].data(),
                                 b->in[kBeta].data(), kEps, y, b->in[kSaveMean].data(),
                                 b->in[kSaveInvstd].data());
    b->out[0].fill_bytes(0xff);
    if (accumulate) copy(1, kDgamma0, c), copy(2, kDbeta0, c);
  }
  return {[op, s, b, accumulate, half] { launch(op, s, *b, accumulate, half.get()); },
          [b, half] { return outputs(*b, half.get()); }};
}

// Eval: y = gamma (x - running mean) / sqrt(running var + eps) + beta.
Reference eval_reference(const Dims& size, std::uint64_t seed, bool in_bf16) {
  const Norm s(size, false, in_bf16);
  const std::vector<std::vector<float>> in = inputs(s, seed);
  ScaledValues out;
  for (std::size_t e = 0; e < s.size(); ++e) {
    const int ch = s.channel(e);
    const double g = in[kGamma][ch] / std::sqrt(double(in[kRunVar][ch]) + kEps), x = in[kX][e],
                 rm = in[kRunMean][ch], beta = in[kBeta][ch];
    out.add(g * (x - rm) + beta, std::fabs(g) * (std::fabs(x) + std::fabs(rm)) + std::fabs(beta));
  }
  return out.reference();
}

KernelCase norm_case(const char* name, Op op, bool accumulate, double bytes, bool in_bf16 = false) {
  KernelCase c;
  c.name = std::string("norm/") + name;
  const bool group = op == Op::gn_forward || op == Op::gn_backward;
  c.prepare = [op, accumulate, in_bf16](const Dims& size, std::uint64_t seed) {
    return prepare(op, size, seed, accumulate, in_bf16);
  };
  c.reference = [op, group, accumulate, in_bf16](const Dims& size, std::uint64_t seed) {
    if (op == Op::bn_eval) return eval_reference(size, seed, in_bf16);
    const Norm s(size, group, in_bf16);
    if (op == Op::bn_backward || op == Op::gn_backward)
      return backward_reference(s, seed, accumulate);
    return forward_reference(s, seed);
  };
  // The emulator sums a segment in one float chain (up to 8194 values here): ~sqrt(count) eps. In
  // bf16 y or dx is rounded once more (2^-8), and where the devices' float sums differ the
  // rounding may differ by one bf16 ulp (2^-7).
  const double rounding = in_bf16 ? 1.0 / 256 : 0.0;
  c.vs_reference = {1e-9, 1e-5 + rounding};
  c.gpu_vs_emulator = {1e-6, 1e-5 + 2 * rounding};
  c.bytes_per_element = bytes;
  if (group) {
    c.sizes = {{3, 3, 2, 63}, {3, 1, 6, 63}, {3, 6, 1, 63},  {2, 2, 2, 1000},
               {1, 5, 1, 1},  {31, 1, 3, 7}, {2, 4, 2, 4097}};
    c.parity_sizes = {{3, 3, 2, 63}, {4, 8, 8, 1024}};
    c.bench_size = {128, 8, 8, 1024};  // airbench's widest layer: 64 channels of 32 x 32
  } else {
    c.sizes = {{3, 5, 63}, {2, 3, 4097}, {257, 2, 1}, {1, 4, 2},
               {1, 1, 2},  {31, 7, 31},  {4, 3, 1000}};
    c.parity_sizes = {{3, 5, 63}, {16, 64, 1024}};
    c.bench_size = {128, 64, 1024};
  }
  return c;
}

}  // namespace

std::vector<KernelCase> norm_cases() {
  return {norm_case("batchnorm2d train forward", Op::bn_train, false, 16),
          norm_case("batchnorm2d eval forward", Op::bn_eval, false, 8),
          norm_case("batchnorm2d backward", Op::bn_backward, false, 20),
          norm_case("batchnorm2d backward accumulated", Op::bn_backward, true, 20),
          norm_case("batchnorm2d train forward bf16", Op::bn_train, false, 8, true),
          norm_case("batchnorm2d eval forward bf16", Op::bn_eval, false, 4, true),
          norm_case("batchnorm2d backward bf16", Op::bn_backward, false, 10, true),
          norm_case("groupnorm forward", Op::gn_forward, false, 12),
          norm_case("groupnorm backward", Op::gn_backward, false, 28),
          norm_case("groupnorm backward accumulated", Op::gn_backward, true, 28),
          norm_case("groupnorm forward bf16", Op::gn_forward, false, 6, true),
          norm_case("groupnorm backward bf16", Op::gn_backward, false, 14, true)};
}

}  // namespace gq::cases
