// Grad Queue's ring push (kernels/gradient_ring.h) with bf16 slots: a ring of 4 slots at length 3
// holding three seeded gradients takes a fourth, which evicts the oldest. The outputs are the
// written slot widened and both float64 sums (read back as float); the reference rounds with
// runtime/bf16.h's rule and sums in double. Each element's operations are exact products and the
// same additions in the same order on both devices, and the rounding is the GPU's own
// (cvt.rn.bf16.f32), so the GPU gives the emulator's bits.
#include <cmath>
#include <memory>

#include "kernels/cases/case_files.h"
#include "kernels/gradient_ring.h"
#include "runtime/bf16.h"

namespace gq::cases {
namespace {

constexpr int kQmax = 4, kQlen = 3, kPushes = 4;  // the last push evicts the first

struct Bf16Ring {
  std::size_t p;
  DeviceBuffer<bf16> slots;
  DeviceBuffer<double> sum, sumsq;
  DeviceBuffer<kernels::RingState> state;
  std::vector<DeviceBuffer<float>> g;
  explicit Bf16Ring(std::size_t p_)
      : p(p_), slots(kQmax * p_), sum(p_), sumsq(p_), state(1) {}
  kernels::GradientRing ring() {
    return {slots.data(), sum.data(), sumsq.data(), state.data(), p, kQmax, Precision::bf16};
  }
};

// Gradients over several decades, so that rounding and the sums both matter.
std::vector<float> gradient(std::size_t n, std::uint64_t seed, int i) {
  std::vector<float> g = seeded(n, seed, 10 + i);
  const std::vector<float> e = seeded(n, seed, 20 + i, -4.0f, 2.0f);
  for (std::size_t j = 0; j < n; ++j) g[j] *= std::pow(10.0f, e[j]);
  return g;
}

KernelCase push_case() {
  KernelCase c;
  c.name = "gradient_ring/push bf16";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    auto r = std::make_shared<Bf16Ring>(size[0]);
    r->slots.fill_bytes(0xff);  // NaN: a slot the push fails to write cannot pass
    r->sum.fill_bytes(0);
    r->sumsq.fill_bytes(0);
    const kernels::RingState s = kernels::initial_ring_state(1, kQmax, kQlen);
    r->state.upload(std::span<const kernels::RingState>(&s, 1));
    for (int i = 0; i < kPushes; ++i)
      r->g.emplace_back(std::span<const float>(gradient(r->p, seed, i)));
    for (int i = 0; i + 1 < kPushes; ++i) kernels::ring_push(r->ring(), r->g[i].data());
    return PreparedCase{[r] { kernels::ring_push(r->ring(), r->g[kPushes - 1].data()); },
                        [r] {
                          const std::vector<bf16> slots = r->slots.to_host();
                          const std::vector<double> s1 = r->sum.to_host(), s2 = r->sumsq.to_host();
                          std::vector<float> out;
                          for (std::size_t j = 0; j < r->p; ++j)
                            out.push_back(to_float(slots[(kPushes - 1) * r->p + j]));
                          out.insert(out.end(), s1.begin(), s1.end());
                          out.insert(out.end(), s2.begin(), s2.end());
                          return out;
                        }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    const std::size_t p = size[0];
    std::vector<double> slot(p), s1(p, 0.0), s2(p, 0.0), m1(p, 0.0), m2(p, 0.0);
    for (int i = 0; i < kPushes; ++i) {
      const std::vector<float> g = gradient(p, seed, i);
      for (std::size_t j = 0; j < p; ++j) {
        const double b = to_float(to_bf16(g[j]));
        s1[j] += i == 0 ? 0.0 : b;  // the first push is evicted by the last
        s2[j] += i == 0 ? 0.0 : b * b;
        m1[j] += std::fabs(b);  // the device's sums held the evicted entry too
        m2[j] += b * b;
        if (i == kPushes - 1) slot[j] = b;
      }
    }
    std::vector<double> want = slot, magnitude(p);
    for (std::size_t j = 0; j < p; ++j) magnitude[j] = std::fabs(slot[j]);
    want.insert(want.end(), s1.begin(), s1.end());
    want.insert(want.end(), s2.begin(), s2.end());
    magnitude.insert(magnitude.end(), m1.begin(), m1.end());
    magnitude.insert(magnitude.end(), m2.begin(), m2.end());
    return Reference(std::move(want), std::move(magnitude));
  };
  c.vs_reference = {0, 2e-7};  // the sums in another order, rounded to float to be read back
  c.bytes_per_element = 40;  // g 4, slot 2, evicted slot 2, sum and sumsq read and written 32
  return c;
}

}  // namespace

std::vector<KernelCase> gradient_ring_bf16_cases() {
  return {push_case()};
}

}  // namespace gq::cases
