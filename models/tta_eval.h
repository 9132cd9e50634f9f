// Test-time augmentation around any model's forward pass (airbench94's infer, levels 0-2:
// kernels/tta.h): the views of a normalised batch in one launch, the model on each view, the
// weighted combination of their logits. Buffers are allocated once, for a fixed batch.
#pragma once

#include <functional>

#include "runtime/memory.h"
#include "runtime/tensor.h"

namespace gq::models {

class TestTimeAugmentation {
 public:
  // The model's forward on `batch` samples: x [batch, c, h, w] on the device in, the logits
  // [batch, classes] on the device out (valid until the next call).
  using Forward = std::function<const float*(const float* x)>;

  // sample: [c, h, w]; level 0, 1 or 2.
  TestTimeAugmentation(int batch, const Shape& sample, int classes, int level);
  // out: [batch, classes] on the device. Level 0 is the plain forward (copied to out).
  void logits(const Forward& forward, const float* x, float* out, stream_t stream = nullptr);

  int level() const { return level_; }
  int views() const { return views_count_; }
  std::size_t bytes() const { return views_.bytes() + stash_.bytes(); }

 private:
  int batch_, c_, h_, w_, classes_, level_, views_count_;
  DeviceBuffer<float> views_;  // [views][batch][c][h][w] (level > 0)
  DeviceBuffer<float> stash_;  // [views][batch][classes]
};

}  // namespace gq::models
