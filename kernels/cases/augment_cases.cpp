// Batch assembly (kernels/augment.h) sized [batch, c, h, w] from a uint8 dataset of batch + 7
// images (some picked twice, some never): normalisation alone; random crops with pad 2 and zero
// padding, or reflect padding, with a coin flip per image; airbench94's reflect crops with the
// alternating flip (epoch 2 of 3-step epochs, a rank's share starting at batch position 5). Against
// the documented Philox draws and the normalisation in double (three float roundings of
// (v / 255 + mean) / std); the labels exactly. The devices do the same float operations: the same
// bits. The search over every valid crop and flip, determinism in (seed, step), a rank's share,
// torch's reflect padding by hand, the flip sequence over epochs from a device step, and
// argument checks stay in tests/kernels/test_augment.
#include "kernels/cases/augment_reference.h"

#include <cmath>

#include "kernels/augment.h"
#include "kernels/cases/case_files.h"
#include "runtime/rng.h"

namespace gq::cases {

AugmentTransform augment_draw(const kernels::AugmentParams& p, std::int32_t sample,
                              std::uint64_t b) {
  const Philox4 r = philox_random4(p.seed, p.step, p.first + b);
  const std::uint32_t span = 2u * static_cast<std::uint32_t>(p.pad) + 1u;
  bool flip = (r.v[2] & 1u) != 0;
  if (p.flip_mode == kernels::FlipMode::alternating) {
    const bool preflip =
        (philox_random4(p.seed, kernels::kPreflipStream, std::uint64_t(sample)).v[0] & 1u) != 0;
    flip = preflip != ((p.step / p.steps_per_epoch) % 2 == 1);
  }
  return {static_cast<int>(r.v[0] % span) - p.pad, static_cast<int>(r.v[1] % span) - p.pad,
          p.flip && flip};
}

std::vector<double> augment_plane(const std::uint8_t* plane, int h, int w, AugmentTransform t,
                                  double mean, double sd, kernels::PadMode mode) {
  const auto reflect = [](int i, int n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; };
  std::vector<double> out(std::size_t(h) * w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int sy = y + t.dy, fx = x + t.dx;
      if (mode == kernels::PadMode::reflect) sy = reflect(sy, h), fx = reflect(fx, w);
      if (sy < 0 || sy >= h || fx < 0 || fx >= w) continue;
      out[std::size_t(y) * w + x] =
          (plane[sy * w + (t.flip ? w - 1 - fx : fx)] / 255.0 - mean) / sd;
    }
  return out;
}

namespace {

const float kMean[] = {0.49f, 0.48f, 0.45f, 0.5f}, kStd[] = {0.25f, 0.24f, 0.26f, 0.3f};

struct Dataset {
  int batch, c, h, w;
  std::vector<std::uint8_t> pixels;
  std::vector<std::int32_t> labels, indices;
  Dataset(const Dims& size, std::uint64_t seed)
      : batch(int(size[0])),
        c(int(size[1])),
        h(int(size[2])),
        w(int(size[3])),
        pixels((batch + 7) * numel(size) / batch),
        labels(batch + 7),
        indices(batch) {
    HostRng rng(seed, 1);
    for (std::uint8_t& p : pixels) p = static_cast<std::uint8_t>(rng.below(256));
    for (std::int32_t& l : labels) l = static_cast<std::int32_t>(rng.below(10));
    for (std::int32_t& i : indices) i = static_cast<std::int32_t>(rng.below(batch + 7));
  }
};

struct AugmentBuffers {
  DeviceBuffer<std::uint8_t> pixels;
  DeviceBuffer<std::int32_t> labels, indices, labels_out;
  DeviceBuffer<float> out;
  explicit AugmentBuffers(const Dataset& d)
      : pixels(std::span<const std::uint8_t>(d.pixels)),
        labels(std::span<const std::int32_t>(d.labels)),
        indices(std::span<const std::int32_t>(d.indices)),
        labels_out(d.batch),
        out(d.pixels.size() / (d.batch + 7) * d.batch) {
    labels_out.fill_bytes(0xff);
    out.fill_bytes(0xff);
  }
};

Reference reference(const kernels::AugmentParams& params, const Dims& size, std::uint64_t seed) {
  const Dataset d(size, seed);
  const std::size_t plane = std::size_t(d.h) * d.w;
  ScaledValues out;
  for (int b = 0; b < d.batch; ++b) {
    const AugmentTransform t = augment_draw(params, d.indices[b], b);
    for (int ch = 0; ch < d.c; ++ch) {
      const std::uint8_t* src = d.pixels.data() + (std::size_t(d.indices[b]) * d.c + ch) * plane;
      for (double v : augment_plane(src, d.h, d.w, t, kMean[ch], kStd[ch], params.pad_mode))
        out.add(v, v == 0 ? 0 : (1 + double(kMean[ch])) / kStd[ch]);
    }
  }
  for (int b = 0; b < d.batch; ++b) out.add(d.labels[d.indices[b]], 0);
  return out.reference();
}

KernelCase augment_case(const char* name, const kernels::AugmentParams& params) {
  KernelCase c;
  c.name = std::string("augment/") + name;
  c.prepare = [params](const Dims& size, std::uint64_t seed) {
    const Dataset d(size, seed);
    auto b = std::make_shared<AugmentBuffers>(d);
    return PreparedCase{[b, params, batch = d.batch, ch = d.c, h = d.h, w = d.w] {
                          kernels::gather_augment(b->pixels.data(), b->labels.data(),
                                                  b->indices.data(), batch, ch, h, w, kMean, kStd,
                                                  params, b->out.data(), b->labels_out.data());
                        },
                        [b] {
                          std::vector<float> r = b->out.to_host();
                          for (std::int32_t l : b->labels_out.to_host()) r.push_back(float(l));
                          return r;
                        }};
  };
  c.reference = [params](const Dims& size, std::uint64_t seed) {
    return reference(params, size, seed);
  };
  c.vs_reference = {0, 4e-7};
  c.bytes_per_element = 5;  // a byte read, a float written
  c.sizes = {{37, 3, 9, 7},  {5, 1, 28, 28}, {1, 1, 5, 6},  {41, 4, 3, 5},
             {3, 3, 32, 32}, {2, 2, 31, 33}, {257, 1, 3, 3}};
  c.parity_sizes = {{37, 3, 32, 32}};
  c.bench_size = {512, 3, 32, 32};  // airbench94's training batch
  return c;
}

kernels::AugmentParams params(int pad, bool flip, kernels::PadMode pad_mode,
                              kernels::FlipMode flip_mode) {
  kernels::AugmentParams p{pad, flip, 1234, 7};
  p.pad_mode = pad_mode;
  p.flip_mode = flip_mode;
  p.steps_per_epoch = 3;
  p.first = flip_mode == kernels::FlipMode::alternating ? 5 : 0;
  return p;
}

}  // namespace

std::vector<KernelCase> augment_cases() {
  using kernels::FlipMode, kernels::PadMode;
  return {
      augment_case("normalize", params(0, false, PadMode::zero, FlipMode::coin)),
      augment_case("crop pad=2 zero, coin flip", params(2, true, PadMode::zero, FlipMode::coin)),
      augment_case("crop pad=2 reflect, coin flip",
                   params(2, true, PadMode::reflect, FlipMode::coin)),
      augment_case("crop pad=2 reflect, alternating flip",
                   params(2, true, PadMode::reflect, FlipMode::alternating))};
}

}  // namespace gq::cases
