#include "runtime/train/optimizer.h"

#include <utility>

#include "runtime/choices.h"
#include "runtime/error.h"

namespace gq::train {

// The optimizers (one file each in optimizers/).
using OptimizerFactory = std::unique_ptr<Optimizer> (*)(const OptimizerSettings&,
                                                        const models::ParamRegistry&);
std::unique_ptr<Optimizer> make_sgd(const OptimizerSettings&, const models::ParamRegistry&);
std::unique_ptr<Optimizer> make_momentum(const OptimizerSettings&, const models::ParamRegistry&);
std::unique_ptr<Optimizer> make_nesterov(const OptimizerSettings&, const models::ParamRegistry&);
std::unique_ptr<Optimizer> make_adamw(const OptimizerSettings&, const models::ParamRegistry&);
std::unique_ptr<Optimizer> make_lars(const OptimizerSettings&, const models::ParamRegistry&);

namespace {

struct Registration {
  const char* name;
  OptimizerFactory make;
};
constexpr Registration kOptimizers[] = {
    {"sgd", make_sgd},     {"momentum", make_momentum}, {"nesterov", make_nesterov},
    {"adamw", make_adamw}, {"lars", make_lars},
};
const bool kRegistered = register_choices("optimizer", optimizer_names());  // --optimizer

}  // namespace

std::vector<ParamGroup> param_groups(const models::ParamRegistry& params, float weight_decay) {
  std::vector<ParamGroup> groups;
  const std::size_t decayed = params.decayed_count();
  if (decayed > 0) groups.push_back({0, decayed, weight_decay});
  if (params.size() > decayed) groups.push_back({decayed, params.size() - decayed, 0.0f});
  return groups;
}

float* Optimizer::add_state(std::string name, std::size_t p) {
  DeviceBuffer<float> values(p);
  values.fill_bytes(0);
  state_.push_back({std::move(name), std::move(values)});
  return state_.back().values.data();
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, const OptimizerSettings& s,
                                          const models::ParamRegistry& params) {
  for (const Registration& r : kOptimizers)
    if (name == r.name) return r.make(s, params);
  std::string valid;
  for (const Registration& r : kOptimizers) valid += (valid.empty() ? "" : ", ") + std::string(r.name);
  GQ_FAIL("unknown --optimizer '{}'; valid: {}", name, valid);
}

std::vector<std::string> optimizer_names() {
  std::vector<std::string> names;
  for (const Registration& r : kOptimizers) names.emplace_back(r.name);
  return names;
}

}  // namespace gq::train
