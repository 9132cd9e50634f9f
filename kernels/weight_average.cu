// Lookahead EMA update of a list of device float tensors against one flat EMA copy.
// Launch shape: a 2-D grid, blockIdx.y = tensor (all tensors in one launch), blockIdx.x a
// grid-stride share of that tensor (grid_stride_blocks of the largest tensor, kBlock threads); the
// decay is decided per thread from the device step counter (no host sync, graph-capturable).
// Memory traffic: update 8 bytes read + 8 written per element; reset 4 + 4.
#include "kernels/weight_average.h"

#include <cmath>
#include <utility>

#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

constexpr unsigned kBlock = 256;

// The tensors by value: no device table to upload.
struct Tensors {
  float* data[LookaheadEma::kMaxTensors];
  std::size_t count[LookaheadEma::kMaxTensors];
  std::size_t offset[LookaheadEma::kMaxTensors];  // into the EMA copy
};

// Either a fixed decay (scheduled false) or the schedule read from the step counter.
struct Decay {
  bool scheduled;
  float fixed;
  DeviceScalar<std::uint64_t> steps_done;
  std::uint64_t total;
  std::uint32_t every;
  double base;
};

// Shared by host and device so the two compute the same float. Negative: no update.
GQ_HD float scheduled_decay(std::uint64_t s, std::uint64_t total, std::uint32_t every,
                            double base) {
  if (s == 0 || s > total) return -1.0f;
  if (s % every == 0) {
    const double r = static_cast<double>(s) / static_cast<double>(total);
    return static_cast<float>(base * (r * r * r));
  }
  return s == total ? 1.0f : -1.0f;
}

__global__ void __launch_bounds__(kBlock)
    lookahead_kernel(Tensors t, float* __restrict__ ema, Decay d, bool reset) {
  float decay = d.fixed;
  if (!reset && d.scheduled) {
    decay = scheduled_decay(d.steps_done.get(), d.total, d.every, d.base);
    if (decay < 0.0f) return;
  }
  const float weight = 1.0f - decay;  // torch: lerp_(w, 1 - decay)
  const int k = static_cast<int>(blockIdx.y);
  float* w = t.data[k];
  float* e = ema + t.offset[k];
  const std::size_t n = t.count[k];
  const IndexRange share = thread_share(n, std::size_t{blockIdx.x} * blockDim.x + threadIdx.x,
                                        std::size_t{gridDim.x} * blockDim.x);
  for (const std::size_t i : share) {
    if (reset) {
      e[i] = w[i];
      continue;
    }
    const float self = e[i], end = w[i], diff = end - self;
    const float v = weight < 0.5f ? fmaf(weight, diff, self) : fmaf(-(1.0f - weight), diff, end);
    e[i] = v;
    w[i] = v;
  }
}

}  // namespace

float lookahead_decay(const LookaheadSchedule& s, std::uint64_t steps_done) {
  return scheduled_decay(steps_done, s.total_steps, s.every, s.base);
}

LookaheadEma::LookaheadEma(std::vector<StateSpan> tensors) : tensors_(std::move(tensors)) {
  GQ_CHECK(!tensors_.empty() && tensors_.size() <= static_cast<std::size_t>(kMaxTensors),
           "LookaheadEma: needs 1 to {} tensors, got {}", kMaxTensors, tensors_.size());
  std::size_t total = 0;
  for (const StateSpan& s : tensors_) {
    GQ_CHECK(s.data != nullptr && s.count > 0, "LookaheadEma: an empty or null tensor");
    total += s.count;
    max_count_ = std::max(max_count_, s.count);
  }
  ema_ = DeviceBuffer<float>(total);
}

namespace {

void launch_lookahead(const std::vector<StateSpan>& tensors, std::size_t max_count, float* ema,
                      const Decay& d, bool reset, stream_t stream) {
  Tensors t{};
  std::size_t offset = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    t.data[k] = tensors[k].data;
    t.count[k] = tensors[k].count;
    t.offset[k] = offset;
    offset += tensors[k].count;
  }
  const dim3 grid(grid_stride_blocks(max_count, kBlock), static_cast<unsigned>(tensors.size()));
  launch(lookahead_kernel, grid, dim3(kBlock), 0, stream, t, ema, d, reset);
}

}  // namespace

void LookaheadEma::reset(stream_t stream) {
  launch_lookahead(tensors_, max_count_, ema_.data(), Decay{false, 0.0f, {}, 0, 1, 0.0}, true,
                   stream);
}

void LookaheadEma::update(float decay, stream_t stream) {
  GQ_CHECK(decay >= 0.0f && decay <= 1.0f, "LookaheadEma::update: decay {} is not in [0, 1]",
           decay);
  launch_lookahead(tensors_, max_count_, ema_.data(), Decay{false, decay, {}, 0, 1, 0.0}, false,
                   stream);
}

void LookaheadEma::update_on_schedule(const LookaheadSchedule& s,
                                      DeviceScalar<std::uint64_t> steps_done, stream_t stream) {
  GQ_CHECK(s.total_steps > 0 && s.every > 0 && s.base >= 0.0 && s.base <= 1.0,
           "LookaheadEma: schedule needs total_steps > 0, every > 0, base in [0, 1] (got {}, {}, "
           "{})",
           s.total_steps, s.every, s.base);
  launch_lookahead(tensors_, max_count_, ema_.data(),
                   Decay{true, 0.0f, steps_done, s.total_steps, s.every, s.base}, false, stream);
}

}  // namespace gq::kernels
