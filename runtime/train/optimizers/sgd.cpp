// SGD, SGD with momentum and Nesterov momentum, PyTorch semantics (kernels/optim.h), with the
// weight decay of each parameter group coupled into the gradient (L2).
#include <fmt/format.h>

#include "kernels/optim.h"
#include "runtime/train/optimizer.h"

namespace gq::train {
namespace {

class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerSettings& s, const models::ParamRegistry& params, float momentum,
      bool nesterov)
      : groups_(param_groups(params, s.weight_decay)), momentum_(momentum), nesterov_(nesterov) {
    if (momentum > 0) buf_ = add_state("momentum", params.size());
  }
  std::string describe() const override {
    if (momentum_ == 0) return "sgd";
    return fmt::format("{} momentum {}", nesterov_ ? "nesterov" : "momentum", momentum_);
  }
  void step(const StepInputs& in) override {
    for (const ParamGroup& g : groups_)
      kernels::sgd_step(in.params + g.offset, in.grads + g.offset,
                        buf_ ? buf_ + g.offset : nullptr, g.count, in.lr, momentum_, nesterov_,
                        g.weight_decay, in.stream, in.apply);
  }

 private:
  std::vector<ParamGroup> groups_;
  float momentum_;
  bool nesterov_;
  float* buf_ = nullptr;
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(const OptimizerSettings& s, const models::ParamRegistry& p) {
  return std::make_unique<Sgd>(s, p, 0.0f, false);
}
std::unique_ptr<Optimizer> make_momentum(const OptimizerSettings& s,
                                         const models::ParamRegistry& p) {
  return std::make_unique<Sgd>(s, p, s.momentum, false);
}
std::unique_ptr<Optimizer> make_nesterov(const OptimizerSettings& s,
                                         const models::ParamRegistry& p) {
  return std::make_unique<Sgd>(s, p, s.momentum, true);
}

}  // namespace gq::train
