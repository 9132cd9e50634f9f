// Every registered optimizer (runtime/train/optimizer.h) against a double-precision host
// reference of its update, on a registry with decayed and undecayed tensors of awkward sizes:
// three steps, the state it declares, and a skipped step (apply = 0) that changes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/rng.h"
#include "runtime/train/optimizer.h"

namespace gq::train {
namespace {

struct Tensor {
  std::size_t offset, n;
  bool decay;
};

// Host reference of one step over the flat vectors, in double. `state` holds the optimizer's
// named buffers (zero at the start).
void reference_step(const std::string& name, const OptimizerSettings& s,
                    const std::vector<Tensor>& tensors, std::vector<double>& p,
                    const std::vector<double>& g, std::map<std::string, std::vector<double>>& state,
                    double lr, long step) {
  auto& buf = state["momentum"];
  auto& m = state["adam_m"];
  auto& v = state["adam_v"];
  for (auto* b : {&buf, &m, &v}) b->resize(p.size(), 0.0);
  for (const Tensor& t : tensors) {
    const double wd = t.decay ? s.weight_decay : 0.0;
    double trust = 1;
    if (name == "lars" && t.decay) {
      double wn = 0, gn = 0;
      for (std::size_t i = t.offset; i < t.offset + t.n; ++i) wn += p[i] * p[i], gn += g[i] * g[i];
      wn = std::sqrt(wn), gn = std::sqrt(gn);
      if (wn > 0 && gn > 0) trust = s.slots.get("lars-eta", 0.0f) * wn / (gn + s.weight_decay * wn);
    }
    for (std::size_t i = t.offset; i < t.offset + t.n; ++i) {
      if (name == "adamw") {
        const double b1 = 0.9, b2 = 0.999, eps = 1e-8, k = static_cast<double>(step + 1);
        p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= lr * (m[i] / (1 - std::pow(b1, k))) / (std::sqrt(v[i] / (1 - std::pow(b2, k))) + eps);
      } else if (name == "lars") {
        const double gi = t.decay ? trust * (g[i] + wd * p[i]) : g[i];
        buf[i] = s.momentum * buf[i] + gi;
        p[i] -= lr * buf[i];
      } else {
        double gi = g[i] + wd * p[i];
        if (name != "sgd") {
          buf[i] = s.momentum * buf[i] + gi;
          gi = name == "nesterov" ? gi + s.momentum * buf[i] : buf[i];
        }
        p[i] -= lr * gi;
      }
    }
  }
}

class OptimizerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // Registration order mixes the groups; the registry lays decayed tensors out first.
    params_.add("conv.weight", Shape{5, 3, 3}, true, models::Init::uniform_fan_in, 27);
    params_.add("conv.bias", Shape{5}, false, models::Init::uniform_fan_in, 27);
    params_.add("fc.weight", Shape{7, 13}, true, models::Init::uniform_fan_in, 13);
    params_.add("norm.weight", Shape{1}, false, models::Init::ones);
    params_.allocate();
    params_.initialize(3);
    for (const auto& info : params_.infos())
      tensors_.push_back({info.offset, info.numel(), info.decay});
    settings_.weight_decay = 0.01f;
    settings_.slots.get("lars-eta", 0.0f) = 0.02f;  // declared in optimizers/lars.cpp
  }
  std::vector<float> host(const float* d) const {
    std::vector<float> v(params_.size());
    copy_to_host(v.data(), d, v.size() * sizeof(float));
    return v;
  }
  void upload_random_grads(std::uint64_t seed) {
    HostRng rng(seed);
    std::vector<float> g(params_.size());
    for (float& x : g) x = rng.uniform() * 2 - 1;
    copy_to_device(params_.grads(), g.data(), g.size() * sizeof(float));
  }

  models::ParamRegistry params_;
  std::vector<Tensor> tensors_;
  OptimizerSettings settings_;
};

TEST_P(OptimizerTest, MatchesTheDoubleReferenceOverThreeSteps) {
  const std::string name = GetParam();
  auto opt = make_optimizer(name, settings_, params_);
  const std::vector<float> p0 = host(params_.values());
  std::vector<double> p(p0.begin(), p0.end());
  std::map<std::string, std::vector<double>> state;
  const float lrs[] = {0.5f, 0.25f, 0.125f};
  for (long step = 0; step < 3; ++step) {
    upload_random_grads(100 + step);
    const std::vector<float> g32 = host(params_.grads());
    reference_step(name, settings_, tensors_, p, std::vector<double>(g32.begin(), g32.end()),
                   state, lrs[step], step);
    opt->step({params_.values(), params_.grads(), lrs[step], step, nullptr, nullptr});
  }
  const std::vector<float> got = host(params_.values());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], p[i], 2e-5 * (1 + std::abs(p[i]))) << name << " parameter " << i;
  for (Optimizer::State& s : opt->state()) {
    const std::vector<float> dev = s.values.to_host();
    const std::vector<double>& want = state.at(s.name);
    for (std::size_t i = 0; i < dev.size(); ++i)
      ASSERT_NEAR(dev[i], want[i], 2e-5 * (1 + std::abs(want[i]))) << name << " " << s.name << " " << i;
  }
}

TEST_P(OptimizerTest, DeclaresItsStateAndASkippedStepChangesNothing) {
  const std::string name = GetParam();
  auto opt = make_optimizer(name, settings_, params_);
  const std::map<std::string, std::vector<std::string>> expected = {
      {"sgd", {}},
      {"momentum", {"momentum"}},
      {"nesterov", {"momentum"}},
      {"adamw", {"adam_m", "adam_v"}},
      {"lars", {"momentum"}}};
  std::vector<std::string> names;
  for (Optimizer::State& s : opt->state()) {
    names.push_back(s.name);
    EXPECT_EQ(s.values.size(), params_.size());
  }
  EXPECT_EQ(names, expected.at(name));

  upload_random_grads(5);
  opt->step({params_.values(), params_.grads(), 0.1f, 0, nullptr, nullptr});
  const std::vector<float> before = host(params_.values());
  std::vector<std::vector<float>> state_before;
  for (Optimizer::State& s : opt->state()) state_before.push_back(s.values.to_host());
  DeviceBuffer<std::int32_t> skip(1);
  skip.fill_bytes(0);
  opt->step({params_.values(), params_.grads(), 0.1f, 1, skip.data(), nullptr});
  EXPECT_EQ(host(params_.values()), before);
  for (std::size_t i = 0; i < state_before.size(); ++i)
    EXPECT_EQ(opt->state()[i].values.to_host(), state_before[i]);
}

INSTANTIATE_TEST_SUITE_P(Registered, OptimizerTest, ::testing::ValuesIn(optimizer_names()));

TEST(OptimizerRegistry, UnknownNamesListTheValidOnes) {
  models::ParamRegistry params;
  params.add("w", Shape{3}, true, models::Init::ones);
  params.allocate();
  try {
    make_optimizer("adagrad", {}, params);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'adagrad'"), std::string::npos) << what;
    for (const std::string& name : optimizer_names())
      EXPECT_NE(what.find(name), std::string::npos) << what;
  }
}

TEST(OptimizerRegistry, ParamGroupsSplitTheDecayedRange) {
  models::ParamRegistry params;
  params.add("b", Shape{4}, false, models::Init::zeros);
  params.add("w", Shape{6}, true, models::Init::ones);
  params.allocate();
  const auto groups = param_groups(params, 0.5f);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].offset, 0u);
  EXPECT_EQ(groups[0].count, 6u);
  EXPECT_EQ(groups[0].weight_decay, 0.5f);
  EXPECT_EQ(groups[1].offset, 6u);
  EXPECT_EQ(groups[1].count, 4u);
  EXPECT_EQ(groups[1].weight_decay, 0.0f);
}

}  // namespace
}  // namespace gq::train
