#include "runtime/train/training_data.h"

#include <algorithm>
#include <cmath>

#include "runtime/error.h"

namespace gq::train {

void take_subset(data::Dataset& d, int n) {
  if (n <= 0 || n >= d.n) return;
  d.n = n;
  if (d.images.empty())
    d.features.resize(d.sample_size() * n);
  else
    d.images.resize(d.sample_size() * n);
  d.labels.resize(n);
}

namespace {

// Which samples a validation split of n takes: the last n, or (balanced) from the end of the set
// the last n / classes of each class, the first n % classes classes one more, so that the split's
// class mix is the uniform one whatever order the file lists its samples in.
std::vector<bool> validation_mask(const data::Dataset& d, int n, bool balanced) {
  std::vector<bool> held(d.n, false);
  if (!balanced) {
    std::fill(held.end() - n, held.end(), true);
    return held;
  }
  const int classes = d.num_classes;
  std::vector<std::int64_t> wanted(classes), counts = d.class_counts();
  for (int c = 0; c < classes; ++c) {
    wanted[c] = n / classes + (c < n % classes ? 1 : 0);
    GQ_CHECK(wanted[c] < counts[c],
             "--val-size {} --val-pick balanced holds out {} samples of class {} ('{}'), which has "
             "{} in the training set: it would leave none to train on; use a smaller --val-size",
             n, wanted[c], c, c < static_cast<int>(d.class_names.size()) ? d.class_names[c] : "",
             counts[c]);
  }
  for (int i = d.n - 1; i >= 0; --i) {
    std::int64_t& left = wanted[d.labels[i]];
    if (left > 0) held[i] = true, --left;
  }
  return held;
}

// Moves the samples `take` marks from `from` into a new vector, in their order.
template <typename T>
std::vector<T> move_marked(std::vector<T>& from, const std::vector<bool>& take, std::size_t size) {
  std::vector<T> kept, taken;
  if (from.empty()) return taken;
  kept.reserve(from.size());
  for (std::size_t i = 0; i < take.size(); ++i) {
    std::vector<T>& to = take[i] ? taken : kept;
    to.insert(to.end(), from.begin() + i * size, from.begin() + (i + 1) * size);
  }
  from = std::move(kept);
  return taken;
}

}  // namespace

data::Dataset split_off_validation(data::Dataset& d, int n, bool balanced) {
  GQ_CHECK(n > 0 && n < d.n, "--val-size {} must leave training samples (the training set has {})",
           n, d.n);
  const std::vector<bool> held = validation_mask(d, n, balanced);
  const std::size_t size = d.sample_size();
  std::vector<std::uint8_t> images = std::move(d.images);
  std::vector<float> features = std::move(d.features);
  std::vector<std::int32_t> labels = std::move(d.labels);
  data::Dataset val = d;  // the metadata (the samples were moved out, not copied)
  val.split = "validation";
  val.n = n;
  val.images = move_marked(images, held, size);
  val.features = move_marked(features, held, size);
  val.labels = move_marked(labels, held, 1);
  d.images = std::move(images);
  d.features = std::move(features);
  d.labels = std::move(labels);
  d.n -= n;
  return val;
}

void channel_stats(const data::Dataset& d, std::vector<float>& mean, std::vector<float>& stddev) {
  const std::size_t plane = static_cast<std::size_t>(d.height) * d.width;
  mean.assign(d.channels, 0);
  stddev.assign(d.channels, 0);
  for (int c = 0; c < d.channels; ++c) {
    double s = 0, s2 = 0;
    for (int i = 0; i < d.n; ++i) {
      const std::uint8_t* p =
          d.images.data() + (static_cast<std::size_t>(i) * d.channels + c) * plane;
      for (std::size_t j = 0; j < plane; ++j) {
        const double v = p[j] / 255.0;
        s += v;
        s2 += v * v;
      }
    }
    const double count = static_cast<double>(d.n) * plane;
    mean[c] = static_cast<float>(s / count);
    stddev[c] =
        static_cast<float>(std::sqrt(std::max(1e-12, s2 / count - (s / count) * (s / count))));
  }
}

void DeviceSplit::upload(const data::Dataset& d, int batch) {
  features = DeviceBuffer<float>(std::span<const float>(d.features));
  images = DeviceBuffer<std::uint8_t>(std::span<const std::uint8_t>(d.images));
  labels = DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(d.labels));
  // Evaluation covers the split in whole batches; the tail batch wraps around and only its first
  // samples are counted.
  const int padded = d.n == 0 ? 0 : (d.n + batch - 1) / batch * batch;
  std::vector<std::int32_t> idx(padded);
  for (int i = 0; i < padded; ++i) idx[i] = i % d.n;
  eval_order = DeviceBuffer<std::int32_t>(std::span<const std::int32_t>(idx));
}

std::size_t DeviceSplit::bytes() const {
  return images.bytes() + features.bytes() + labels.bytes() + eval_order.bytes();
}

}  // namespace gq::train
