// Data-dependent initialisation of a whitening stem (models/whitening.h, airbench94): before
// training, the first --whiten-images training images, normalised and not augmented, give the
// patch covariance whose eigenvectors become the stem's frozen filters. A resume takes them from
// the checkpoint's parameters instead (they are parameters).
#pragma once

#include <functional>
#include <string>

#include "models/sequential.h"
#include "runtime/train/train_config.h"

namespace gq::train {

// batch(start): the device batch of the training images start, start + 1, ... (normalised, no
// augmentation; `batch_size` of them, those past the split wrapping around). Sets the filters
// of every whitening layer of `model` from min(images, train_n) images; returns a line for the
// configuration ("stem.whiten: 24 filters from 5000 images, eps 0.0005"), "" when it has none.
std::string init_whitening(models::Sequential& model, const TrainConfig& cfg, int train_n,
                           int batch_size, const std::function<const float*(int start)>& batch);

}  // namespace gq::train
