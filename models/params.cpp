#include "models/params.h"

#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/matrix_rows.h"
#include "kernels/random.h"
#include "runtime/error.h"

namespace gq::models {

ParamRegistry::Id ParamRegistry::add(std::string name, Shape shape, bool decay, Init init,
                                     std::int64_t fan_in) {
  GQ_CHECK(values_.empty(), "parameter '{}' registered after the registry was allocated", name);
  GQ_CHECK(shape.numel() > 0, "parameter '{}' has an empty shape {}", name, shape.str());
  infos_.push_back(ParamInfo{std::move(name), shape, decay, init, fan_in, 0});
  return static_cast<Id>(infos_.size() - 1);
}

void ParamRegistry::allocate() {
  std::size_t offset = 0;
  for (bool decayed_group : {true, false}) {
    for (ParamInfo& p : infos_) {
      if (p.decay != decayed_group) continue;
      p.offset = offset;
      offset += p.numel();
    }
    if (decayed_group) decayed_ = offset;
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
      case Init::uniform_fan_in: {
        const auto b = static_cast<float>(1.0 / std::sqrt(fan_in));
        kernels::fill_uniform(x, p.numel(), -b, b, seed, i, stream);
        break;
      }
    }
  }
}

}  // namespace gq::models
