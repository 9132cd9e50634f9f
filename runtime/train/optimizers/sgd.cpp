// SGD, SGD with momentum and Nesterov momentum, PyTorch semantics (kernels/optim.h), with the
// weight decay of each parameter group coupled into the gradient (L2), a learning-rate scale per
// group (--norm-bias-lr-scale) and groups frozen from a step on (--freeze-stem-after-epochs),
// decided on the device by the step gate (kernels/step_gate.h).
//
// airbench94's optimizer in these terms (docs/ARCHITECTURE.md, "airbench94"): PyTorch SGD on the
// SUMMED loss of a batch of B with lr = 11.5 / K, K = 1024 (1 + 1 / (1 - 0.85)), and weight_decay
// wd / lr with wd = 0.0153 B / K; the BatchNorm shifts at lr_b = 64 lr with weight_decay wd / lr_b.
// The summed loss's gradient is B times the mean loss's, and PyTorch's update is linear in
// (grad + weight_decay * p) through the momentum buffer, so with the mean loss the same update
// is lr' = lr B = 11.5 B / K (= 1.5 at B = 1024) and weight_decay' = (wd / lr) / B = 0.0153 / 11.5
// = 0.0013304348 (the shifts: lr' x 64 and 0.0013304348 / 64).
#include <fmt/format.h>

#include "kernels/optim.h"
#include "kernels/step_gate.h"
#include "runtime/train/optimizer.h"
#include "runtime/train/settings.h"

namespace gq::train {
namespace {

// The parameter-group settings the SGD family reads (param_groups(params, settings)).
const std::vector<std::string> kSgdFamily = {"sgd", "momentum", "nesterov"};
const bool kDeclared = declare({
    flag({"decay-biases", "Optimizer",
          "biases and normalisation parameters take --weight-decay too, divided by their "
          "learning-rate scale (the same decay per step as the weights: airbench94's groups)",
          ResumeRule::must_match_when_set, "optimizer", kSgdFamily},
         GQ_FIELD(optimizer_settings.decay_biases)),
    real({"norm-bias-lr-scale", "Optimizer",
          "normalisation layers' parameters (BatchNorm shifts) step at this multiple of the "
          "learning rate (airbench94: 64)",
          ResumeRule::must_match_when_set, "optimizer", kSgdFamily},
         GQ_FIELD(optimizer_settings.norm_lr_scale), 0, 1e6, /*lo_open=*/true),
});

class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerSettings& s, const models::ParamRegistry& params, float momentum,
      bool nesterov)
      : groups_(param_groups(params, s)),
        plain_groups_(groups_ == param_groups(params, s.weight_decay)),
        momentum_(momentum),
        nesterov_(nesterov) {
    if (momentum > 0) buf_ = add_state("momentum", params.size());
    gates_ = DeviceBuffer<std::int32_t>(groups_.size());
  }
  std::string describe() const override {
    const std::string groups = plain_groups_ ? "" : "; groups " + describe_groups(groups_);
    if (momentum_ == 0) return "sgd" + groups;
    return fmt::format("{} momentum {}{}", nesterov_ ? "nesterov" : "momentum", momentum_, groups);
  }
  void step(const StepInputs& in) override {
    for (std::size_t i = 0; i < groups_.size(); ++i) {
      const ParamGroup& g = groups_[i];
      const std::int32_t* apply = in.apply;
      if (g.until_step > 0) {  // frozen from until_step on: no decay, no momentum, no step
        kernels::gate_before_step(in.step, g.until_step, in.apply, gates_.data() + i, in.stream);
        apply = gates_.data() + i;
      }
      const DeviceScalar<float> lr = g.lr_scale == 1.0f ? in.lr : in.lr.affine(g.lr_scale, 0.0f);
      kernels::sgd_step(in.params + g.offset, in.grads + g.offset,
                        buf_ ? buf_ + g.offset : nullptr, g.count, lr, momentum_, nesterov_,
                        g.weight_decay, in.stream, apply);
    }
  }
  std::size_t scratch_bytes() const override { return gates_.bytes(); }

 private:
  std::vector<ParamGroup> groups_;
  bool plain_groups_;  // the default plan: describe() says nothing more
  DeviceBuffer<std::int32_t> gates_;  // per group: its apply flag this step (until_step > 0)
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
