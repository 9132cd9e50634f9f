#include "runtime/train/whitening_init.h"

#include <algorithm>

#include <fmt/format.h>

#include "models/whitening.h"
#include "runtime/train/settings.h"

namespace gq::train {
namespace {

const bool kDeclared = declare({
    integer({"whiten-images", "Run",
             "training images whose 2x2 patches set the whitening stem's filters before training",
             ResumeRule::must_match_when_set, "model", {"airbench94"}},
            GQ_FIELD(whiten_images), 1, 1000000),
    real({"whiten-eps", "Run", "added to the patch covariance's eigenvalues (whitening stem)",
          ResumeRule::must_match_when_set, "model", {"airbench94"}},
         GQ_FIELD(whiten_eps), 0, 1, /*lo_open=*/true),
});

}  // namespace

std::string init_whitening(models::Sequential& model, const TrainConfig& cfg, int train_n,
                           int batch_size, const std::function<const float*(int start)>& batch) {
  std::string done;
  for (int i = 0; i < model.num_layers(); ++i) {
    auto* stem = dynamic_cast<models::Whitening*>(&model.layer(i));
    if (!stem) continue;
    const Shape& in = i == 0 ? model.input_shape() : model.output_shape(i - 1);
    GQ_CHECK(i == 0, "{}: a whitening layer is set from the images, so it must come first",
             model.layer_name(i));
    const int c = static_cast<int>(in[0]), h = static_cast<int>(in[1]),
              w = static_cast<int>(in[2]);
    const int n = std::min(cfg.whiten_images, train_n);
    models::PatchCovariance cov(batch_size, c, h, w, stem->patch());
    for (int start = 0; start < n; start += batch_size)
      cov.add(batch(start), std::min(batch_size, n - start));
    stem->set_filters(models::whitening_filters(cov.covariance(), c, stem->patch(), cfg.whiten_eps));
    done += fmt::format("{}{}: {} filters from {} images, eps {}", done.empty() ? "" : "; ",
                        model.layer_name(i), 2 * cov.dim(), n, cfg.whiten_eps);
  }
  return done;
}

}  // namespace gq::train
