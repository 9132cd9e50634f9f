// LARS (kernels/lars.h): momentum SGD whose decayed tensors (conv and linear weights) each take a
// trust ratio eta ||w|| / (||g|| + wd ||w||); biases and normalisation parameters step plainly.
#include <algorithm>
#include <span>

#include <fmt/format.h>

#include "kernels/lars.h"
#include "runtime/train/optimizer.h"
#include "runtime/train/settings.h"

namespace gq::train {
namespace {

// --lars-eta lives here alone: declared, stored in the optimizer settings' slots, and read.
float& eta(const OptimizerSettings& s) {
  return s.slots.get("lars-eta", 0.001f);
}
const bool kDeclared = declare({real({"lars-eta", "Optimizer",
                                      "LARS trust coefficient: a weight tensor steps by "
                                      "eta ||w|| / (||g|| + wd ||w||)",
                                      ResumeRule::must_match, "optimizer", {"lars"}},
                                     +[](TrainConfig& c) -> float& { return eta(c.optimizer_settings); },
                                     0, 1e6, /*lo_open=*/true)});

class Lars final : public Optimizer {
 public:
  Lars(const OptimizerSettings& s, const models::ParamRegistry& params)
      : p_(params.size()), momentum_(s.momentum), weight_decay_(s.weight_decay), eta_(eta(s)) {
    std::vector<int> offsets;
    for (const models::ParamInfo& info : params.infos()) {
      offsets.push_back(static_cast<int>(info.offset));
      adapted_ += info.decay ? 1 : 0;  // the decayed tensors come first in the flat vector
    }
    std::sort(offsets.begin(), offsets.end());
    offsets.push_back(static_cast<int>(p_));
    tensors_ = static_cast<int>(offsets.size()) - 1;
    offsets_ = DeviceBuffer<int>(std::span<const int>(offsets));
    trust_ = DeviceBuffer<float>(std::max(1, tensors_));
    buf_ = add_state("momentum", p_);
  }
  std::string describe() const override {
    return fmt::format("lars momentum {} eta {} (trust ratios on {} of {} tensors)", momentum_, eta_,
                       adapted_, tensors_);
  }
  void step(const StepInputs& in) override {
    kernels::lars_step(in.params, in.grads, buf_, p_, offsets_.data(), tensors_, adapted_, in.lr,
                       momentum_, weight_decay_, eta_, trust_.data(), in.stream, in.apply);
  }
  std::size_t scratch_bytes() const override { return offsets_.bytes() + trust_.bytes(); }

 private:
  std::size_t p_;
  float momentum_, weight_decay_, eta_;
  int tensors_ = 0, adapted_ = 0;
  DeviceBuffer<int> offsets_;
  DeviceBuffer<float> trust_;
  float* buf_;
};

}  // namespace

std::unique_ptr<Optimizer> make_lars(const OptimizerSettings& s, const models::ParamRegistry& p) {
  return std::make_unique<Lars>(s, p);
}

}  // namespace gq::train
