// The classification loss (kernels/loss.h), sized [n, classes], on logits in [-4, 4): softmax
// cross-entropy with label smoothing 0 and 0.1, losses and dlogits (grad_scale 1 / n) or the
// losses alone, and top-1 correctness on logits rounded to halves (ties between classes are
// common: the first maximum wins; labels the maximum in every other row). Class counts below,
// at and above a warp's 32 lanes. expf / logf differ by an ulp or two between CUDA's libdevice and
// glibc; correctness is exact. In-place gradients, the warp tree's bits, large logits, bad labels
// and finite differences stay in tests/kernels/test_loss.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kernels/cases/case_files.h"
#include "kernels/loss.h"
#include "runtime/rng.h"

namespace gq::cases {
namespace {

struct Batch {
  int n, classes;
  std::vector<float> logits;
  std::vector<std::int32_t> labels;
  Batch(const Dims& size, std::uint64_t seed, bool ties)
      : n(static_cast<int>(size[0])),
        classes(static_cast<int>(size[1])),
        logits(seeded(numel(size), seed, 1, -4.0f, 4.0f)),
        labels(n) {
    HostRng rng(seed, 2);
    for (std::int32_t& l : labels) l = static_cast<std::int32_t>(rng.below(classes));
    if (!ties) return;
    for (float& v : logits) v = std::round(v * 2.0f) / 2.0f;
    for (int i = 0; i < n; i += 2) labels[i] = first_max(i);
  }
  const float* row(int i) const { return logits.data() + std::size_t(i) * classes; }
  int first_max(int i) const { return int(std::max_element(row(i), row(i) + classes) - row(i)); }
};

struct LossBuffers {
  DeviceBuffer<float> logits, losses, dlogits;
  DeviceBuffer<std::int32_t> labels, correct;
  explicit LossBuffers(const Batch& b)
      : logits(std::span<const float>(b.logits)),
        losses(b.n),
        dlogits(b.logits.size()),
        labels(std::span<const std::int32_t>(b.labels)),
        correct(b.n) {
    losses.fill_bytes(0xff);
    dlogits.fill_bytes(0xff);
    correct.fill_bytes(0xff);
  }
};

// Losses then dlogits (when written), in double; a value's scale is the sum of its terms'
// magnitudes: a loss's sum_j t_j (|z_j| + log_sum), a gradient's grad_scale (p_j + t_j).
Reference xent_reference(const Batch& b, double s, bool gradient) {
  std::vector<double> loss(b.n), dl, loss_scale(b.n), dl_scale;
  const double scale = 1.0 / b.n;
  for (int i = 0; i < b.n; ++i) {
    const float* l = b.row(i);
    const double m = *std::max_element(l, l + b.classes);
    double sum = 0;
    for (int j = 0; j < b.classes; ++j) sum += std::exp(l[j] - m);
    const double log_sum = std::log(sum);
    for (int j = 0; j < b.classes; ++j) {
      const double t = (j == b.labels[i] ? 1 - s : 0) + s / b.classes, z = l[j] - m;
      const double p = std::exp(z) / sum;
      loss[i] -= t * (z - log_sum);
      loss_scale[i] += t * (std::fabs(z) + log_sum);
      dl.push_back(scale * (p - t));
      dl_scale.push_back(scale * (p + t));
    }
  }
  if (gradient) {
    loss.insert(loss.end(), dl.begin(), dl.end());
    loss_scale.insert(loss_scale.end(), dl_scale.begin(), dl_scale.end());
  }
  return Reference(std::move(loss), std::move(loss_scale));
}

KernelCase xent_case(float smoothing, bool gradient) {
  KernelCase c;
  char name[64];
  std::snprintf(name, sizeof name, "loss/softmax_xent%s smoothing=%.1f",
                gradient ? "" : " losses only", smoothing);
  c.name = name;
  c.prepare = [smoothing, gradient](const Dims& size, std::uint64_t seed) {
    const Batch batch(size, seed, false);
    auto b = std::make_shared<LossBuffers>(batch);
    return PreparedCase{[b, n = batch.n, classes = batch.classes, smoothing, gradient] {
                          kernels::softmax_xent(b->logits.data(), b->labels.data(), n, classes,
                                                smoothing, b->losses.data(),
                                                gradient ? b->dlogits.data() : nullptr, 1.0f / n);
                        },
                        [b, gradient] {
                          std::vector<float> r = b->losses.to_host();
                          if (!gradient) return r;
                          const std::vector<float> d = b->dlogits.to_host();
                          r.insert(r.end(), d.begin(), d.end());
                          return r;
                        }};
  };
  c.reference = [smoothing, gradient](const Dims& size, std::uint64_t seed) {
    return xent_reference(Batch(size, seed, false), smoothing, gradient);
  };
  c.vs_reference = {1e-9, 2e-6};
  c.gpu_vs_emulator = {1e-6, 1e-5};
  c.bytes_per_element = gradient ? 16 : 12;  // a row read three times (from cache), dlogits written
  return c;
}

KernelCase correct_case() {
  KernelCase c;
  c.name = "loss/correct_predictions";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    const Batch batch(size, seed, true);
    auto b = std::make_shared<LossBuffers>(batch);
    return PreparedCase{[b, n = batch.n, classes = batch.classes] {
                          kernels::correct_predictions(b->logits.data(), b->labels.data(), n,
                                                       classes, b->correct.data());
                        },
                        [b] {
                          std::vector<float> r;
                          for (std::int32_t v : b->correct.to_host()) r.push_back(float(v));
                          return r;
                        }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    const Batch b(size, seed, true);
    std::vector<double> want(b.n);
    for (int i = 0; i < b.n; ++i) want[i] = b.labels[i] == b.first_max(i) ? 1 : 0;
    return Reference(std::move(want));
  };
  c.bytes_per_element = 4;
  return c;
}

}  // namespace

std::vector<KernelCase> loss_cases() {
  std::vector<KernelCase> out = {xent_case(0.0f, true), xent_case(0.1f, true),
                                 xent_case(0.1f, false), correct_case()};
  for (KernelCase& c : out) {
    c.sizes = {{1, 10}, {31, 46}, {257, 90}, {257, 10}, {31, 1}, {3, 33}, {1031, 32}, {2, 257}};
    c.parity_sizes = {{257, 46}};
    c.bench_size = {128, 10};  // a CIFAR-10 batch: the training step's loss
  }
  return out;
}

}  // namespace gq::cases
