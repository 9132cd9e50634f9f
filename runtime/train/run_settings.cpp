#include "runtime/train/run_settings.h"

#include <fmt/format.h>

namespace gq::train {
namespace {

const char* name(kernels::ScarcityFamily f) {
  switch (f) {
    case kernels::ScarcityFamily::powtanh:
      return "powtanh";
    case kernels::ScarcityFamily::clip:
      return "clip";
    case kernels::ScarcityFamily::chebyshev:
      return "chebyshev";
    case kernels::ScarcityFamily::none:
      return "none";
  }
  return "?";
}

// A float flag as it was written (0.1, not 0.10000000149011612): the shortest decimal that reads
// back as the same float, so messages show what the user typed and comparisons stay exact.
double as_written(float v) {
  return std::stod(fmt::format("{}", v));
}

}  // namespace

nlohmann::json run_settings(const TrainConfig& c) {
  nlohmann::json s = {{"model", c.model},
                      {"dataset", c.dataset},
                      {"epochs", c.epochs},
                      {"max-steps", c.max_steps},
                      {"batch-size", c.batch_size},
                      {"lr", as_written(c.lr)},
                      {"schedule", c.schedule},
                      {"warmup", as_written(c.warmup_fraction)},
                      {"optimizer", c.optimizer},
                      {"momentum", as_written(c.optimizer_settings.momentum)},
                      {"weight-decay", as_written(c.optimizer_settings.weight_decay)},
                      {"label-smoothing", as_written(c.label_smoothing)},
                      {"clip-norm", as_written(c.clip_norm)},
                      {"seed", c.seed},
                      {"train-subset", c.train_subset},
                      {"no-augment", !c.augment},
                      {"gradqueue", c.gradqueue}};
  if (c.val_size > 0) s["val-size"] = c.val_size;  // changes which samples train
  if (c.optimizer == "lars") s["lars-eta"] = as_written(c.optimizer_settings.lars_eta);
  if (!c.gradqueue) return s;
  const auto& g = c.gq;
  const auto& sc = g.scarcity;
  s.update(
      {{"gq-clusters", g.clusters > 0 ? nlohmann::json(g.clusters) : nlohmann::json("auto")},
       {"gq-kmeans-iters", g.kmeans_iters},
       {"gq-qmin", g.qmin},
       {"gq-qmax", g.qmax},
       {"gq-qlen-init", g.qlen_init},
       {"gq-fixed-qlen", g.fixed_qlen},
       {"gq-rho", as_written(sc.rho)},
       {"gq-scarcity", name(sc.family)},
       {"gq-sigma-scale", sc.sigma_scale == kernels::SigmaScale::cluster ? "cluster" : "batch"},
       {"gq-granularity", sc.granularity == kernels::Granularity::element ? "element" : "cluster"},
       {"gq-cluster-weight",
        sc.cluster_weight == kernels::ClusterWeight::size ? "size" : "uniform"},
       {"gq-renorm", sc.renorm ? "on" : "off"},
       {"gq-loss-ema", as_written(g.loss_ema)},
       {"gq-tol", as_written(g.tol)},
       {"gq-features", g.features}});
  return s;
}

std::vector<std::string> settings_differences(const nlohmann::json& checkpoint,
                                              const nlohmann::json& run) {
  std::vector<std::string> out;
  auto shown = [](const nlohmann::json& v) {
    if (v.is_number_float()) return fmt::format("{}", v.get<double>());  // 0, not 0.0
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  for (const auto& [key, value] : run.items()) {
    if (!checkpoint.contains(key))
      out.push_back(
          fmt::format("--{}: not recorded in the checkpoint, this run {}", key, shown(value)));
    else if (checkpoint[key] != value)
      out.push_back(fmt::format("--{}: checkpoint {}, this run {}", key, shown(checkpoint[key]),
                                shown(value)));
  }
  for (const auto& [key, value] : checkpoint.items()) {
    if (!run.contains(key))
      out.push_back(fmt::format("--{}: checkpoint {}, not set in this run", key, shown(value)));
  }
  return out;
}

}  // namespace gq::train
