// A run's data as the Trainer uses it: subsets, the validation split held out of training, the
// per-channel statistics that normalise images, and each split resident on the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "datasets/dataset.h"
#include "runtime/memory.h"

namespace gq::train {

// Keeps the first n samples of d (n <= 0 or >= d.n: all of them).
void take_subset(data::Dataset& d, int n);
// Removes n samples from d and returns them, in their order: a validation split training never
// sees. The last n (--val-pick tail), or the last n / classes of each class (balanced). gq::Error
// when n leaves no training sample (of some class, when balanced).
data::Dataset split_off_validation(data::Dataset& d, int n, bool balanced);
// Per-channel mean and standard deviation of d's images, in [0, 1] units.
void channel_stats(const data::Dataset& d, std::vector<float>& mean, std::vector<float>& stddev);

// A dataset split on the device: its samples, labels and, for evaluation, the order it is read in
// whole batches.
struct DeviceSplit {
  DeviceBuffer<std::uint8_t> images;
  DeviceBuffer<float> features;  // text datasets
  DeviceBuffer<std::int32_t> labels;
  DeviceBuffer<std::int32_t> eval_order;  // 0..n-1 padded to whole batches (wrapping around)
  void upload(const data::Dataset& d, int batch);
  std::size_t bytes() const;
};

}  // namespace gq::train
