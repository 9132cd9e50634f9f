// AdamW (kernels/optim.h) with PyTorch's default betas and epsilon; the weight decay is decoupled
// and applies to the decayed group only.
#include <fmt/format.h>

#include "kernels/optim.h"
#include "runtime/train/optimizer.h"

namespace gq::train {
namespace {

class AdamW final : public Optimizer {
 public:
  static constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kEps = 1e-8f;

  AdamW(const OptimizerSettings& s, const models::ParamRegistry& params)
      : groups_(param_groups(params, s.weight_decay)) {
    m_ = add_state("adam_m", params.size());
    v_ = add_state("adam_v", params.size());
  }
  std::string describe() const override {
    return fmt::format("adamw betas {}/{} eps {}", kBeta1, kBeta2, kEps);
  }
  void step(const StepInputs& in) override {
    // Bias correction counts every step, skipped ones too (their apply flag is 0 on the device).
    const DeviceScalar<std::uint64_t> t = in.step.affine(1, 1);  // step + 1
    for (const ParamGroup& g : groups_)
      kernels::adamw_step(in.params + g.offset, in.grads + g.offset, m_ + g.offset, v_ + g.offset,
                          g.count, in.lr, kBeta1, kBeta2, kEps, g.weight_decay, t, in.stream,
                          in.apply);
  }

 private:
  std::vector<ParamGroup> groups_;
  float* m_;
  float* v_;
};

}  // namespace

std::unique_ptr<Optimizer> make_adamw(const OptimizerSettings& s, const models::ParamRegistry& p) {
  return std::make_unique<AdamW>(s, p);
}

}  // namespace gq::train
