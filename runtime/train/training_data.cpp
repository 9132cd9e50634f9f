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

data::Dataset split_off_tail(data::Dataset& d, int n) {
  GQ_CHECK(n > 0 && n < d.n, "--val-size {} must leave training samples (the training set has {})",
           n, d.n);
  const std::size_t keep = static_cast<std::size_t>(d.n - n), size = d.sample_size();
  std::vector<std::uint8_t> images = std::move(d.images);
  std::vector<float> features = std::move(d.features);
  std::vector<std::int32_t> labels = std::move(d.labels);
  data::Dataset tail = d;  // the metadata; the sample vectors were moved out
  tail.split = "validation";
  tail.n = n;
  if (!images.empty()) tail.images.assign(images.begin() + keep * size, images.end());
  if (!features.empty()) tail.features.assign(features.begin() + keep * size, features.end());
  tail.labels.assign(labels.begin() + keep, labels.end());
  images.resize(images.empty() ? 0 : keep * size);
  features.resize(features.empty() ? 0 : keep * size);
  labels.resize(keep);
  d.images = std::move(images);
  d.features = std::move(features);
  d.labels = std::move(labels);
  d.n = static_cast<int>(keep);
  return tail;
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
