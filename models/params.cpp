#include "models/params.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/matrix_rows.h"
#include "kernels/random.h"
#include "runtime/error.h"

namespace gq::models {
namespace {

// The first min(out, in) output channels of an [out, in, kh, kw] weight as dirac_ leaves them:
// one contiguous prefix of the tensor, written by one upload at initialisation.
std::vector<float> dirac_prefix(const Shape& s) {
  GQ_CHECK(s.rank == 4, "dirac initialisation needs an [out, in, kh, kw] weight, got {}", s.str());
  const std::int64_t out = s[0], in = s[1], kh = s[2], kw = s[3];
  const std::int64_t m = std::min(out, in);
  std::vector<float> w(static_cast<std::size_t>(m * in * kh * kw), 0.0f);
  for (std::int64_t o = 0; o < m; ++o)
    w[static_cast<std::size_t>(((o * in + o) * kh + kh / 2) * kw + kw / 2)] = 1.0f;
  return w;
}

}  // namespace

ParamRegistry::Id ParamRegistry::add(std::string name, Shape shape, bool decay, Init init,
                                     std::int64_t fan_in) {
  GQ_CHECK(values_.empty(), "parameter '{}' registered after the registry was allocated", name);
  GQ_CHECK(shape.numel() > 0, "parameter '{}' has an empty shape {}", name, shape.str());
  infos_.push_back(ParamInfo{std::move(name), shape, decay, false, init, fan_in, 0});
  return static_cast<Id>(infos_.size() - 1);
}

ParamRegistry::Id ParamRegistry::add_frozen(std::string name, Shape shape, Init init,
                                            std::int64_t fan_in) {
  const Id id = add(std::move(name), shape, false, init, fan_in);
  infos_[id].frozen = true;
  return id;
}

void ParamRegistry::allocate() {
  enum Group { decayed, undecayed, frozen };
  const auto group_of = [](const ParamInfo& p) {
    return p.frozen ? frozen : (p.decay ? decayed : undecayed);
  };
  std::size_t offset = 0;
  for (const Group group : {decayed, undecayed, frozen}) {
    for (ParamInfo& p : infos_) {
      if (group_of(p) != group) continue;
      p.offset = offset;
      offset += p.numel();
    }
    if (group == decayed) decayed_ = offset;
    if (group == undecayed) trainable_ = offset;
  }
  total_ = offset;
  values_ = DeviceBuffer<float>(total_);
  grads_ = DeviceBuffer<float>(total_);
  grads_.fill_bytes(0);
}

void ParamRegistry::grad_in_every_row(Id id, MatrixView rows, stream_t stream) {
  // One launch for all the rows (a copy per row cost k launches per tensor).
  kernels::broadcast_row(grad(id), columns(id, rows), stream);
}

void ParamRegistry::initialize(std::uint64_t seed, stream_t stream) {
  for (std::size_t i = 0; i < infos_.size(); ++i) {
    const ParamInfo& p = infos_[i];
    float* x = values_.data() + p.offset;
    const double fan_in = static_cast<double>(std::max<std::int64_t>(1, p.fan_in));
    switch (p.init) {
      case Init::zeros:
        kernels::fill(x, p.numel(), 0.0f, stream);
        break;
      case Init::ones:
        kernels::fill(x, p.numel(), 1.0f, stream);
        break;
      case Init::uniform_fan_in:
      case Init::uniform_fan_in_dirac: {
        const auto b = static_cast<float>(1.0 / std::sqrt(fan_in));
        kernels::fill_uniform(x, p.numel(), -b, b, seed, i, stream);
        if (p.init == Init::uniform_fan_in_dirac) {
          const std::vector<float> prefix = dirac_prefix(p.shape);
          copy_to_device(x, prefix.data(), prefix.size() * sizeof(float), stream);
        }
        break;
      }
    }
  }
}

}  // namespace gq::models
