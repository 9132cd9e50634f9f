// The gradient ring (kernels/gradient_ring.h) sized [p]: a ring of 6 slots holding 5 entries that
// wrap around its end (oldest in slot 5), its float64 running sums those entries' sums. A push at
// length 4 evicts the two oldest, then writes its gradient (outputs: every slot, the sums and
// sums of squares rounded to float, head and count); the statistics from the running sums and
// from scratch (two passes, oldest first); the sums recomputed over poisoned ones. Every element's
// additions happen in push order on both devices: the same bits. The length rule, sequences of
// thousands of pushes, a one-slot ring and the skip flag stay in tests/kernels/test_gradient_ring.
#include <cmath>

#include "kernels/cases/case_files.h"
#include "kernels/gradient_ring.h"

namespace gq::cases {
namespace {

constexpr int kQmax = 6, kHeld = 5, kHead = 4;

// Slot s of the ring; slot qmax is the pushed gradient.
std::vector<float> slot(std::size_t p, std::uint64_t seed, int s) {
  return seeded(p, seed, 1 + s, -0.5f + 0.2f * s, 0.5f + 0.1f * s);
}
int held(int i) {
  return (kHead - kHeld + i + kQmax) % kQmax;
}  // the i-th oldest

enum class Op { push, statistics, two_pass, recompute };

struct Ring {
  DeviceBuffer<float> slots, g, out_a, out_b;
  DeviceBuffer<double> sum, sumsq;
  DeviceBuffer<kernels::RingState> state{1};
  std::size_t p;
  Ring(std::size_t p_, std::uint64_t seed)
      : slots(kQmax * p_), g(p_), out_a(p_), out_b(p_), sum(p_), sumsq(p_), p(p_) {
    std::vector<double> s(p, 0.0), s2(p, 0.0);
    for (int k = 0; k < kQmax; ++k) {
      const std::vector<float> v = slot(p, seed, k);
      copy_to_device(slots.data() + k * p, v.data(), p * sizeof(float));
      for (std::size_t j = 0; j < p && (k + kQmax - held(0)) % kQmax < kHeld; ++j)
        s[j] += v[j], s2[j] += double(v[j]) * v[j];
    }
    g.upload(slot(p, seed, kQmax));
    sum.upload(s);
    sumsq.upload(s2);
    kernels::RingState st = kernels::initial_ring_state(2, kQmax, 4);
    st.head = kHead, st.count = kHeld;
    state.upload(std::span<const kernels::RingState>(&st, 1));
    out_a.fill_bytes(0xff);
    out_b.fill_bytes(0xff);
  }
  kernels::GradientRing ring() {
    return {slots.data(), sum.data(), sumsq.data(), state.data(), p, kQmax};
  }
  std::vector<float> outputs(Op op) {
    std::vector<float> r;
    const auto add = [&](const auto& v) { r.insert(r.end(), v.begin(), v.end()); };
    if (op == Op::push) add(slots.to_host());
    if (op == Op::push || op == Op::recompute) add(sum.to_host()), add(sumsq.to_host());
    if (op == Op::statistics || op == Op::two_pass) add(out_a.to_host()), add(out_b.to_host());
    const kernels::RingState st = state.to_host()[0];
    if (op == Op::push) r.push_back(float(st.head)), r.push_back(float(st.count));
    return r;
  }
};

void launch(Op op, Ring& r) {
  if (op == Op::push) kernels::ring_push(r.ring(), r.g.data());
  if (op == Op::statistics) kernels::ring_statistics(r.ring(), r.out_a.data(), r.out_b.data());
  if (op == Op::two_pass)
    kernels::ring_statistics_two_pass(r.ring(), r.out_a.data(), r.out_b.data());
  if (op == Op::recompute) kernels::ring_recompute_sums(r.ring());
}

// The held slots after the operation (a push at length 4 keeps the 3 newest and adds slot 4).
Reference reference(Op op, std::size_t p, std::uint64_t seed) {
  std::vector<int> entries;
  for (int i = op == Op::push ? kHeld - 3 : 0; i < kHeld; ++i) entries.push_back(held(i));
  std::vector<std::vector<float>> slots;
  for (int k = 0; k < kQmax; ++k) slots.push_back(slot(p, seed, k));
  if (op == Op::push) slots[kHead] = slot(p, seed, kQmax), entries.push_back(kHead);
  ScaledValues out, second;
  for (int k = 0; op == Op::push && k < kQmax; ++k)
    for (float v : slots[k]) out.add(v, std::fabs(v));
  const double n = double(entries.size());
  for (std::size_t j = 0; j < p; ++j) {
    double s = 0, s2 = 0, m = 0;
    for (int e : entries) {
      const double v = slots[e][j];
      s += v, s2 += v * v, m += std::fabs(v);
    }
    if (op == Op::push || op == Op::recompute) {
      out.add(s, m), second.add(s2, s2);  // one rounding to float of a double sum
      continue;
    }
    double var = 0;
    for (int e : entries) var += (slots[e][j] - s / n) * (slots[e][j] - s / n);
    out.add(s / n, m / n);
    second.add(std::sqrt(var / n), std::sqrt(s2 / n));  // sumsq / n - mean^2 cancels to that scale
  }
  out.append(second);
  if (op == Op::push) out.add(kHead + 1, 0), out.add(4, 0);
  return out.reference();
}

KernelCase ring_case(const char* name, Op op, Tolerance tol, double bytes) {
  KernelCase c;
  c.name = std::string("gradient_ring/") + name;
  c.prepare = [op](const Dims& size, std::uint64_t seed) {
    auto r = std::make_shared<Ring>(size[0], seed);
    if (op == Op::recompute) r->sum.fill_bytes(0xff), r->sumsq.fill_bytes(0xff);
    return PreparedCase{[r, op] { launch(op, *r); }, [r, op] { return r->outputs(op); }};
  };
  c.reference = [op](const Dims& size, std::uint64_t seed) { return reference(op, size[0], seed); };
  c.vs_reference = tol;
  c.bytes_per_element = bytes;
  c.sizes = {{1}, {31}, {257}, {4097}, {65539}};
  return c;
}

}  // namespace

std::vector<KernelCase> gradient_ring_cases() {
  return {ring_case("push evicting two", Op::push, {0, 6e-8}, 52),
          ring_case("statistics", Op::statistics, {0, 2e-7}, 24),
          ring_case("statistics two-pass", Op::two_pass, {0, 2e-7}, 8 * kHeld + 8),
          ring_case("recompute sums", Op::recompute, {0, 6e-8}, 4 * kHeld + 16)};
}

}  // namespace gq::cases
