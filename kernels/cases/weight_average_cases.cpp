// Lookahead weight averaging (kernels/weight_average.h) over the tensors of a model sized [n]:
// four tensors (1, 30% of n - 32, the rest, 31; n >= 36), in one launch. reset: the EMA copy
// (poisoned) takes the weights, exactly. update at decay 0.774 (airbench94's base: torch's lerp
// with weight < 0.5), 0.2 (its other branch), 0 and 1: ema = lerp(ema, w, 1 - decay), then w = ema;
// outputs the weights then the EMA copy, within two roundings of the lerp in double. One fmaf
// per element: the GPU gives the emulator's bits. Torch's float lerp bit for bit, the schedule and
// argument checks stay in tests/kernels/test_weight_average.
#include <cmath>
#include <cstdio>

#include "kernels/cases/case_files.h"
#include "kernels/weight_average.h"

namespace gq::cases {
namespace {

std::vector<std::size_t> tensor_sizes(std::size_t n) {
  const std::size_t rest = n - 32, part = rest * 3 / 10;
  return {1, part, rest - part, 31};
}

// The buffers' outputs: the weights, tensor by tensor, then the EMA copy (what state() holds).
struct Model {
  std::shared_ptr<Buffers> b;
  kernels::LookaheadEma ema;
  Model(std::size_t n, std::uint64_t seed)
      : b(buffers({seeded(n, seed, 1, -2.0f, 2.0f), seeded(n, seed, 2, -2.0f, 2.0f)}, {})),
        ema(spans(n)) {}
  std::vector<kernels::StateSpan> spans(std::size_t n) {
    std::size_t offset = 0;
    std::vector<kernels::StateSpan> s;
    for (std::size_t size : tensor_sizes(n)) {
      b->out.emplace_back(size);
      copy_on_device(b->out.back().data(), b->in[0].data() + offset, size * sizeof(float));
      s.push_back({b->out.back().data(), size});
      offset += size;
    }
    return s;
  }
  std::vector<float> outputs() {
    std::vector<float> r = b->outputs();
    const std::vector<float> e = ema.state().to_host();
    r.insert(r.end(), e.begin(), e.end());
    return r;
  }
};

KernelCase weight_average_case(float decay, bool reset) {
  KernelCase c;
  char name[48];
  std::snprintf(name, sizeof name,
                reset ? "weight_average/reset" : "weight_average/update decay=%.3g", decay);
  c.name = name;
  c.prepare = [decay, reset](const Dims& size, std::uint64_t seed) {
    auto m = std::make_shared<Model>(size[0], seed);
    if (reset)
      m->ema.state().fill_bytes(0xff);
    else
      copy_on_device(m->ema.state().data(), m->b->in[1].data(), size[0] * sizeof(float));
    return PreparedCase{[m, decay, reset] {
                          if (reset)
                            m->ema.reset();
                          else
                            m->ema.update(decay);
                        },
                        [m] { return m->outputs(); }};
  };
  c.reference = [decay, reset](const Dims& size, std::uint64_t seed) {
    const std::vector<float> w = seeded(size[0], seed, 1, -2.0f, 2.0f),
                             e = seeded(size[0], seed, 2, -2.0f, 2.0f);
    ScaledValues weights, ema;
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double t = 1 - double(decay);
      const double value = reset ? w[i] : e[i] + t * (double(w[i]) - e[i]);
      const double magnitude = reset ? std::fabs(w[i]) : std::fabs(e[i]) + std::fabs(w[i]);
      weights.add(reset ? w[i] : value, reset ? std::fabs(w[i]) : magnitude);
      ema.add(value, magnitude);
    }
    weights.append(ema);
    return weights.reference();
  };
  c.vs_reference = {0, reset ? 0.0 : 2.5e-7};  // the difference and the fmaf, rounded
  c.bytes_per_element = reset ? 8 : 16;
  c.sizes = {{36}, {37}, {288}, {4097}, {65539}, {1000003}};
  c.parity_sizes = {{1000003}};
  return c;
}

}  // namespace

std::vector<KernelCase> weight_average_cases() {
  return {weight_average_case(0.0f, true), weight_average_case(0.7737809f, false),
          weight_average_case(0.2f, false), weight_average_case(0.0f, false),
          weight_average_case(1.0f, false)};
}

}  // namespace gq::cases
