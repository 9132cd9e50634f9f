// gather_augment: what its kernel cases (kernels/cases/augment_cases.cpp: normalisation, crops
// with zero and reflect padding, coin and alternating flips against the documented draws) cannot
// say: each sample is some valid crop and flip (by search, independently of the draws),
// determinism in (seed, step), a rank's share, torch's reflect padding by hand, the alternating
// flip's sequence over epochs from a device step, labels skipped, argument checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "kernels/augment.h"
#include "kernels/cases/augment_reference.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::kernels {
namespace {

struct Images {
  int count, c, h, w;
  std::vector<std::uint8_t> pixels;
  std::vector<std::int32_t> labels;
  std::size_t sample_size() const { return std::size_t(c) * h * w; }
};

Images make_images(int count, int c, int h, int w, std::uint64_t seed) {
  Images im{count, c, h, w, {}, {}};
  HostRng rng(seed, 1);
  im.pixels.resize(std::size_t(count) * im.sample_size());
  for (auto& p : im.pixels) p = static_cast<std::uint8_t>(rng.below(256));
  for (int i = 0; i < count; ++i) im.labels.push_back(static_cast<std::int32_t>(rng.below(10)));
  return im;
}

using cases::AugmentTransform;

// One output plane of sample `sample`, channel ch, under transform t, in double.
std::vector<double> plane_ref(const Images& im, int sample, int ch, AugmentTransform t,
                              const std::vector<float>& mean, const std::vector<float>& sd,
                              PadMode pad_mode = PadMode::zero) {
  const std::uint8_t* in =
      im.pixels.data() + sample * im.sample_size() + std::size_t(ch) * im.h * im.w;
  return cases::augment_plane(in, im.h, im.w, t, mean[ch], sd[ch], pad_mode);
}

bool planes_match(std::span<const float> got, const std::vector<double>& want) {
  for (std::size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-6 + 1e-6 * std::fabs(want[i]))) return false;
  return true;
}

struct Output {
  std::vector<float> out;
  std::vector<std::int32_t> labels;
};

Output augment(const Images& im, const std::vector<std::int32_t>& indices,
               const std::vector<float>& mean, const std::vector<float>& sd,
               const AugmentParams& params) {
  DeviceBuffer<std::uint8_t> d_images{std::span<const std::uint8_t>(im.pixels)};
  DeviceBuffer<std::int32_t> d_labels{std::span<const std::int32_t>(im.labels)};
  DeviceBuffer<std::int32_t> d_indices{std::span<const std::int32_t>(indices)};
  const int batch = static_cast<int>(indices.size());
  auto out = test::poisoned(batch * im.sample_size());
  auto labels_out = test::poisoned<std::int32_t>(batch);
  gather_augment(d_images.data(), d_labels.data(), d_indices.data(), batch, im.c, im.h, im.w,
                 mean.data(), sd.data(), params, out.data(), labels_out.data());
  return {out.to_host(), labels_out.to_host()};
}

const std::vector<float> kMean = {0.49f, 0.48f, 0.45f, 0.5f};
const std::vector<float> kStd = {0.25f, 0.24f, 0.26f, 0.3f};

class AugmentShapes : public ::testing::TestWithParam<std::tuple<int, int, int, int, bool>> {};

// Independent of how the draws are made: each output sample is the crop/flip of its source for
// some valid (dy, dx, flip), the same for all of its channels.
TEST_P(AugmentShapes, EachSampleIsSomeValidCropAndFlip) {
  const auto [c, h, w, pad, flip] = GetParam();
  const Images im = make_images(7, c, h, w, 3 + w);
  const std::vector<std::int32_t> indices = {6, 2, 2, 0, 5, 1, 4, 3};
  const Output r = augment(im, indices, kMean, kStd, AugmentParams{pad, flip, 77, 3});
  const std::size_t plane = std::size_t(h) * w;
  for (int b = 0; b < static_cast<int>(indices.size()); ++b) {
    bool found = false;
    for (int dy = -pad; dy <= pad && !found; ++dy)
      for (int dx = -pad; dx <= pad && !found; ++dx)
        for (int f = 0; f <= (flip ? 1 : 0) && !found; ++f) {
          bool all = true;
          for (int ch = 0; ch < c && all; ++ch) {
            const auto want = plane_ref(im, indices[b], ch, {dy, dx, f == 1}, kMean, kStd);
            all = planes_match({r.out.data() + (std::size_t(b) * c + ch) * plane, plane}, want);
          }
          found = all;
        }
    EXPECT_TRUE(found) << "sample " << b << " is no crop/flip of image " << indices[b];
  }
}

TEST_P(AugmentShapes, SameSeedAndStepAreDeterministicNewStepDiffers) {
  const auto [c, h, w, pad, flip] = GetParam();
  const Images im = make_images(5, c, h, w, 4);
  const std::vector<std::int32_t> indices = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0};
  const Output a = augment(im, indices, kMean, kStd, AugmentParams{pad, flip, 5, 8});
  const Output b = augment(im, indices, kMean, kStd, AugmentParams{pad, flip, 5, 8});
  const Output d = augment(im, indices, kMean, kStd, AugmentParams{pad, flip, 5, 9});
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.labels, b.labels);
  if (pad > 0 || flip) {
    EXPECT_NE(a.out, d.out);
  }
}

// A data-parallel rank's share of a batch (AugmentParams::first) draws what the whole batch draws
// at the same positions.
TEST_P(AugmentShapes, ASliceWithFirstEqualsTheWholeBatchsRows) {
  const auto [c, h, w, pad, flip] = GetParam();
  const Images im = make_images(7, c, h, w, 6);
  const std::vector<std::int32_t> indices = {6, 1, 2, 5, 4, 0, 3, 1, 2};
  const Output whole = augment(im, indices, kMean, kStd, AugmentParams{pad, flip, 3, 11});
  const std::size_t plane = im.sample_size();
  for (const int first : {3, 6}) {
    const std::vector<std::int32_t> share(indices.begin() + first, indices.begin() + first + 3);
    AugmentParams params{pad, flip, 3, 11};
    params.first = static_cast<std::uint64_t>(first);
    const Output part = augment(im, share, kMean, kStd, params);
    EXPECT_TRUE(std::equal(part.out.begin(), part.out.end(), whole.out.begin() + first * plane))
        << "first " << first;
    EXPECT_TRUE(std::equal(part.labels.begin(), part.labels.end(), whole.labels.begin() + first));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AugmentShapes,
                         ::testing::Values(std::make_tuple(3, 9, 7, 2, true),
                                           std::make_tuple(1, 28, 28, 2, false),
                                           std::make_tuple(1, 5, 6, 0, true),
                                           std::make_tuple(4, 3, 5, 1, true),
                                           std::make_tuple(3, 32, 32, 4, true)));

// ---- reflect padding and the alternating flip (airbench94) ------------------------------------

// PyTorch's F.pad(x, (2, 2, 2, 2), 'reflect') of a 4-wide row [a b c d] is [c b a b c d c b]:
// the edge is not repeated. Written out by hand: this holds the reference the augment kernel
// cases compare with (cases::augment_plane) to torch.
TEST(AugmentReflect, MatchesTorchReflectPaddingByHand) {
  const Images im = make_images(1, 1, 4, 4, 8);
  const std::vector<float> mean = {0.0f}, sd = {1.0f / 255.0f};  // out = raw pixel value
  const int padded_col[8] = {2, 1, 0, 1, 2, 3, 2, 1};
  for (int dy = -2; dy <= 2; ++dy)
    for (int dx = -2; dx <= 2; ++dx) {
      const auto want = plane_ref(im, 0, 0, {dy, dx, false}, mean, sd, PadMode::reflect);
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) {
          const int sy = padded_col[y + dy + 2], sx = padded_col[x + dx + 2];
          ASSERT_NEAR(want[y * 4 + x], double(im.pixels[sy * 4 + sx]), 1e-4);
        }
    }
}

bool preflip(std::uint64_t seed, int sample) {
  return (philox_random4(seed, kPreflipStream, static_cast<std::uint64_t>(sample)).v[0] & 1u) != 0;
}

// The per-epoch sequence of one image, through the step read from device memory (a captured
// step): flipped, not, flipped, not ... or the reverse, starting at its pre-flip.
TEST(AugmentAlternatingFlip, SequenceOverEpochsFromDeviceStep) {
  const Images im = make_images(4, 1, 3, 4, 11);
  const std::vector<std::int32_t> indices = {0, 1, 2, 3};
  const std::vector<float> mean = {0.0f}, sd = {1.0f / 255.0f};
  const std::uint64_t steps_per_epoch = 2;
  for (int sample = 0; sample < im.count; ++sample) {
    std::string sequence, want;
    for (std::uint64_t step = 0; step < 6 * steps_per_epoch; step += steps_per_epoch) {
      DeviceBuffer<std::uint64_t> d_step(std::span<const std::uint64_t>(std::vector{step}));
      AugmentParams params{0, true, 5, 0};
      params.flip_mode = FlipMode::alternating;
      params.steps_per_epoch = steps_per_epoch;
      params.step_device = d_step.data();
      const Output r = augment(im, indices, mean, sd, params);
      const auto plain = plane_ref(im, sample, 0, {0, 0, false}, mean, sd);
      const auto mirrored = plane_ref(im, sample, 0, {0, 0, true}, mean, sd);
      const std::span<const float> got(r.out.data() + sample * plain.size(), plain.size());
      const bool is_plain = test::all_close(got, plain, 1e-4, 0);
      ASSERT_NE(is_plain, bool(test::all_close(got, mirrored, 1e-4, 0)));
      sequence += is_plain ? '.' : 'F';
      const bool f = preflip(5, sample) != (((step / steps_per_epoch) & 1) != 0);
      want += f ? 'F' : '.';
    }
    EXPECT_EQ(sequence, want) << "image " << sample;
    EXPECT_TRUE(sequence == "F.F.F." || sequence == ".F.F.F") << sequence;
  }
}

TEST(AugmentAlternatingFlip, NeedsStepsPerEpoch) {
  const Images im = make_images(2, 1, 4, 4, 12);
  AugmentParams params{0, true, 5, 0};
  params.flip_mode = FlipMode::alternating;
  EXPECT_THROW(augment(im, {0, 1}, kMean, kStd, params), gq::Error);
  params.flip = false;  // no flip at all: the mode is irrelevant
  EXPECT_NO_THROW(augment(im, {0, 1}, kMean, kStd, params));
}

TEST(AugmentEdges, LabelsMayBeSkipped) {
  const Images im = make_images(3, 1, 4, 4, 6);
  DeviceBuffer<std::uint8_t> d_images{std::span<const std::uint8_t>(im.pixels)};
  DeviceBuffer<std::int32_t> d_indices(std::span<const std::int32_t>(std::vector<std::int32_t>{2}));
  auto out = test::poisoned(16);
  gather_augment(d_images.data(), nullptr, d_indices.data(), 1, 1, 4, 4, kMean.data(), kStd.data(),
                 {}, out.data(), nullptr);
  const auto want = plane_ref(im, 2, 0, {0, 0, false}, kMean, kStd);
  EXPECT_TRUE(test::all_close(out.to_host(), want, 1e-6, 1e-6));
}

TEST(AugmentEdges, RejectsBadArguments) {
  DeviceBuffer<std::uint8_t> images(5 * 16);
  DeviceBuffer<std::int32_t> labels(8), indices(8), labels_out(8);
  DeviceBuffer<float> out(5 * 16);
  const auto call = [&](int batch, int c, int h, int w, const float* sd, AugmentParams p,
                        std::int32_t* lo) {
    gather_augment(images.data(), labels.data(), indices.data(), batch, c, h, w, kMean.data(), sd,
                   p, out.data(), lo);
  };
  const std::vector<float> zero_std = {0.25f, 0.0f, 0.25f, 0.25f, 0.25f};
  EXPECT_THROW(call(0, 1, 4, 4, kStd.data(), {}, labels_out.data()), gq::Error);
  EXPECT_THROW(call(1, 5, 4, 4, zero_std.data(), {}, labels_out.data()), gq::Error);  // c > 4
  EXPECT_THROW(call(1, 2, 4, 4, zero_std.data(), {}, labels_out.data()), gq::Error);  // std 0
  EXPECT_THROW(call(1, 1, 4, 4, kStd.data(), {-1, false, 0, 0}, labels_out.data()), gq::Error);
  EXPECT_THROW(call(1, 1, 4, 4, kStd.data(), {4, false, 0, 0}, labels_out.data()), gq::Error);
  EXPECT_THROW(call(1, 1, 4, 4, kStd.data(), {}, nullptr), gq::Error);  // labels without output
}

}  // namespace
}  // namespace gq::kernels
