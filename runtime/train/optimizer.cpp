#include "runtime/train/optimizer.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

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
  const std::size_t decayed = params.decayed_count(), trainable = params.trainable_count();
  if (decayed > 0) groups.push_back({0, decayed, weight_decay});
  if (trainable > decayed) groups.push_back({decayed, trainable - decayed, 0.0f});
  return groups;
}

std::vector<ParamGroup> param_groups(const models::ParamRegistry& params,
                                     const OptimizerSettings& s) {
  std::vector<int> order;  // trainable tensors in layout order
  for (int id = 0; id < static_cast<int>(params.infos().size()); ++id)
    if (!params.info(id).frozen) order.push_back(id);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return params.info(a).offset < params.info(b).offset; });
  std::vector<ParamGroup> groups;
  for (const int id : order) {
    const models::ParamInfo& info = params.info(id);
    ParamGroup g{info.offset, info.numel(), 0.0f};
    g.lr_scale = info.normalization ? s.norm_lr_scale : 1.0f;
    if (info.decay || s.decay_biases) g.weight_decay = s.weight_decay / g.lr_scale;
    if (std::find(s.stem_tensors.begin(), s.stem_tensors.end(), id) != s.stem_tensors.end())
      g.until_step = s.stem_until_step;
    ParamGroup* last = groups.empty() ? nullptr : &groups.back();
    if (last && last->offset + last->count == g.offset && last->weight_decay == g.weight_decay &&
        last->lr_scale == g.lr_scale && last->until_step == g.until_step)
      last->count += g.count;
    else
      groups.push_back(g);
  }
  return groups;
}

std::string describe_groups(const std::vector<ParamGroup>& groups) {
  std::string s;
  for (const ParamGroup& g : groups)
    s += fmt::format("{}{} lr x{} wd {}{}", s.empty() ? "" : ", ", g.count, g.lr_scale,
                     g.weight_decay,
                     g.until_step ? fmt::format(" until step {}", g.until_step) : "");
  return s;
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
