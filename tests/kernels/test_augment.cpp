// gather_augment: exact normalization without augmentation; with crop and flip, every output plane
// against a reference that makes the documented Philox draws, and (independently of the draws)
// against a search over every valid (dy, dx, flip); labels gathered; determinism in (seed, step).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "kernels/augment.h"
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

struct Transform {
  int dy, dx;
  bool flip;
  bool operator<(const Transform& o) const {
    return std::tie(dy, dx, flip) < std::tie(o.dy, o.dx, o.flip);
  }
};

// The draws as augment.h documents them.
Transform documented_draw(const AugmentParams& p, int b) {
  const Philox4 r = philox_random4(p.seed, p.step, static_cast<std::uint64_t>(b));
  const std::uint32_t span = 2u * static_cast<std::uint32_t>(p.pad) + 1u;
  return {static_cast<int>(r.v[0] % span) - p.pad, static_cast<int>(r.v[1] % span) - p.pad,
          p.flip && (r.v[2] & 1u) != 0};
}

int reflect_ref(int i, int n) {
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

// One output plane of sample `sample`, channel ch, under transform t, in double.
std::vector<double> plane_ref(const Images& im, int sample, int ch, Transform t,
                              const std::vector<float>& mean, const std::vector<float>& sd,
                              PadMode pad_mode = PadMode::zero) {
  std::vector<double> out(std::size_t(im.h) * im.w);
  const std::uint8_t* in =
      im.pixels.data() + sample * im.sample_size() + std::size_t(ch) * im.h * im.w;
  for (int y = 0; y < im.h; ++y)
    for (int x = 0; x < im.w; ++x) {
      int sy = y + t.dy, fx = x + t.dx;
      if (pad_mode == PadMode::reflect) sy = reflect_ref(sy, im.h), fx = reflect_ref(fx, im.w);
      double v = 0;
      if (sy >= 0 && sy < im.h && fx >= 0 && fx < im.w) {
        const int sx = t.flip ? im.w - 1 - fx : fx;
        v = (in[sy * im.w + sx] / 255.0 - mean[ch]) / sd[ch];
      }
      out[std::size_t(y) * im.w + x] = v;
    }
  return out;
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

TEST(Augment, WithoutCropOrFlipNormalizesExactly) {
  const Images im = make_images(11, 3, 9, 7, 1);
  const std::vector<std::int32_t> indices = {3, 0, 10, 3, 7};
  const Output r = augment(im, indices, kMean, kStd, AugmentParams{0, false, 42, 5});
  for (std::size_t b = 0; b < indices.size(); ++b) {
    EXPECT_EQ(r.labels[b], im.labels[indices[b]]);
    for (int ch = 0; ch < im.c; ++ch) {
      const auto want = plane_ref(im, indices[b], ch, {0, 0, false}, kMean, kStd);
      const std::span<const float> got(r.out.data() + (b * im.c + ch) * want.size(), want.size());
      EXPECT_TRUE(test::all_close(got, want, 1e-6, 1e-6)) << "sample " << b << " channel " << ch;
    }
  }
}

class AugmentShapes : public ::testing::TestWithParam<std::tuple<int, int, int, int, bool>> {};

TEST_P(AugmentShapes, CropAndFlipFollowTheDocumentedDraws) {
  const auto [c, h, w, pad, flip] = GetParam();
  const Images im = make_images(13, c, h, w, 2 + c + h);
  std::vector<std::int32_t> indices;
  for (int b = 0; b < 37; ++b) indices.push_back((b * 5 + 3) % im.count);
  const AugmentParams params{pad, flip, 1234, 99};
  const Output r = augment(im, indices, kMean, kStd, params);
  std::set<Transform> seen;
  for (int b = 0; b < static_cast<int>(indices.size()); ++b) {
    ASSERT_EQ(r.labels[b], im.labels[indices[b]]);
    const Transform t = documented_draw(params, b);
    ASSERT_LE(std::abs(t.dy), pad);
    ASSERT_LE(std::abs(t.dx), pad);
    seen.insert(t);
    for (int ch = 0; ch < c; ++ch) {
      const auto want = plane_ref(im, indices[b], ch, t, kMean, kStd);
      const std::span<const float> got(r.out.data() + (std::size_t(b) * c + ch) * want.size(),
                                       want.size());
      ASSERT_TRUE(test::all_close(got, want, 1e-6, 1e-6)) << "sample " << b << " channel " << ch;
    }
  }
  // The draws vary across the batch (37 samples; the chance of one repeated transform is tiny).
  EXPECT_GT(seen.size(), 1u);
  if (flip) {
    EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const Transform& t) { return t.flip; }));
    EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const Transform& t) { return !t.flip; }));
  }
}

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
// the edge is not repeated. Written out by hand, independent of reflect_ref.
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

class AugmentReflectShapes : public ::testing::TestWithParam<std::tuple<int, int, int, int>> {};

TEST_P(AugmentReflectShapes, CropReadsTheReflectPaddedImage) {
  const auto [c, h, w, pad] = GetParam();
  const Images im = make_images(9, c, h, w, 9 + h);
  std::vector<std::int32_t> indices;
  for (int b = 0; b < 41; ++b) indices.push_back((b * 7 + 2) % im.count);
  AugmentParams params{pad, true, 321, 17};
  params.pad_mode = PadMode::reflect;
  const Output r = augment(im, indices, kMean, kStd, params);
  for (int b = 0; b < static_cast<int>(indices.size()); ++b) {
    ASSERT_EQ(r.labels[b], im.labels[indices[b]]);
    const Transform t = documented_draw(params, b);  // the draws do not depend on the pad mode
    for (int ch = 0; ch < c; ++ch) {
      const auto want = plane_ref(im, indices[b], ch, t, kMean, kStd, PadMode::reflect);
      const std::span<const float> got(r.out.data() + (std::size_t(b) * c + ch) * want.size(),
                                       want.size());
      ASSERT_TRUE(test::all_close(got, want, 1e-6, 1e-6)) << "sample " << b << " channel " << ch;
    }
  }
  // Same draws, zero padding: identical wherever the crop stays inside the image.
  params.pad_mode = PadMode::zero;
  const Output z = augment(im, indices, kMean, kStd, params);
  for (int b = 0; b < static_cast<int>(indices.size()); ++b) {
    const Transform t = documented_draw(params, b);
    if (t.dy != 0 || t.dx != 0) continue;
    const std::size_t n = im.sample_size();
    EXPECT_TRUE(std::equal(z.out.begin() + b * n, z.out.begin() + (b + 1) * n,
                           r.out.begin() + b * n));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AugmentReflectShapes,
                         ::testing::Values(std::make_tuple(3, 32, 32, 2), std::make_tuple(3, 9, 7, 2),
                                           std::make_tuple(1, 3, 5, 2), std::make_tuple(4, 5, 3, 1),
                                           std::make_tuple(2, 31, 33, 4)));

bool preflip(std::uint64_t seed, int sample) {
  return (philox_random4(seed, kPreflipStream, static_cast<std::uint64_t>(sample)).v[0] & 1u) != 0;
}

// Image i is mirrored in epoch e iff preflip(i) XOR (e odd), for every batch of every epoch, at
// any batch position and rank offset; the crops still follow the per-step draws.
TEST(AugmentAlternatingFlip, EachImageAlternatesFromItsPreflip) {
  const Images im = make_images(23, 3, 6, 5, 10);
  const std::uint64_t steps_per_epoch = 3, seed = 99;
  int coin_ones = 0;
  for (int i = 0; i < im.count; ++i) coin_ones += preflip(seed, i);
  EXPECT_GT(coin_ones, 0);
  EXPECT_LT(coin_ones, im.count);
  for (std::uint64_t step = 0; step < 4 * steps_per_epoch; ++step) {
    const std::uint64_t epoch = step / steps_per_epoch;
    std::vector<std::int32_t> indices;
    for (int b = 0; b < 11; ++b) indices.push_back(static_cast<int>((b * 5 + step * 3) % im.count));
    AugmentParams params{2, true, seed, step};
    params.pad_mode = PadMode::reflect;
    params.flip_mode = FlipMode::alternating;
    params.steps_per_epoch = steps_per_epoch;
    params.first = step % 2 == 0 ? 0 : 40;  // a rank's offset changes the crops, not the flips
    const Output r = augment(im, indices, kMean, kStd, params);
    for (int b = 0; b < static_cast<int>(indices.size()); ++b) {
      const Philox4 d = philox_random4(seed, step, params.first + static_cast<std::uint64_t>(b));
      const bool want_flip = preflip(seed, indices[b]) != ((epoch & 1) != 0);
      const Transform t{static_cast<int>(d.v[0] % 5) - 2, static_cast<int>(d.v[1] % 5) - 2,
                        want_flip};
      for (int ch = 0; ch < im.c; ++ch) {
        const auto want = plane_ref(im, indices[b], ch, t, kMean, kStd, PadMode::reflect);
        const std::span<const float> got(r.out.data() + (std::size_t(b) * im.c + ch) * want.size(),
                                         want.size());
        ASSERT_TRUE(test::all_close(got, want, 1e-6, 1e-6))
            << "step " << step << " sample " << b << " channel " << ch;
      }
    }
  }
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
