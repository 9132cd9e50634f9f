#include "models/tta_eval.h"

#include "kernels/tta.h"
#include "runtime/error.h"

namespace gq::models {

TestTimeAugmentation::TestTimeAugmentation(int batch, const Shape& sample, int classes, int level)
    : batch_(batch), classes_(classes), level_(level), views_count_(kernels::tta_view_count(level)) {
  GQ_CHECK(sample.rank == 3, "test-time augmentation needs [C, H, W] samples, got {}",
           sample.str());
  GQ_CHECK(batch > 0 && classes > 0, "test-time augmentation: batch {} and classes {} must be >= 1",
           batch, classes);
  c_ = static_cast<int>(sample[0]);
  h_ = static_cast<int>(sample[1]);
  w_ = static_cast<int>(sample[2]);
  const std::size_t per_view = static_cast<std::size_t>(batch) * sample.numel();
  if (level > 0) views_ = DeviceBuffer<float>(per_view * views_count_);
  stash_ = DeviceBuffer<float>(static_cast<std::size_t>(views_count_) * batch * classes);
}

void TestTimeAugmentation::logits(const Forward& forward, const float* x, float* out,
                                  stream_t stream) {
  const std::size_t per_view = static_cast<std::size_t>(batch_) * c_ * h_ * w_;
  const std::size_t per_logits = static_cast<std::size_t>(batch_) * classes_;
  if (level_ > 0) kernels::tta_make_views(x, batch_, c_, h_, w_, level_, views_.data(), stream);
  for (int v = 0; v < views_count_; ++v) {
    const float* input = level_ > 0 ? views_.data() + v * per_view : x;
    const float* l = forward(input);
    copy_on_device(stash_.data() + v * per_logits, l, per_logits * sizeof(float), stream);
  }
  kernels::tta_combine(stash_.data(), batch_, classes_, level_, out, stream);
}

}  // namespace gq::models
