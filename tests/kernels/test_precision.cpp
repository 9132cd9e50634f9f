// float32 <-> bfloat16 (runtime/bf16.h, kernels/precision.h): the device's conversions, through the
// kernels, against a reference written another way (the two bf16 neighbours of each float compared
// in double), on every bf16 value, the bit patterns around every rounding boundary, NaN payloads,
// infinities, subnormals and the largest finite values. Random finite bit patterns are a kernel
// case (kernels/cases/precision_cases.cpp). On a GPU this holds the hardware's
// cvt.rn.bf16.f32 to the same reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/precision.h"
#include "runtime/memory.h"

namespace gq::kernels {
namespace {

float from_bits(std::uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}
std::uint32_t float_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  return x;
}

// Round to nearest, ties to even, by distance: the candidates are the float's upper 16 bits
// (truncated toward zero) and the next bf16 away from zero; past the largest finite bf16 the next
// one is infinity, which rounding treats as 2^128 (IEEE's overflow threshold).
std::uint16_t reference_bf16(float f) {
  if (std::isnan(f)) return 0x7FFF;
  const std::uint32_t x = float_bits(f);
  const std::uint16_t low = static_cast<std::uint16_t>(x >> 16);
  if ((x & 0xFFFFu) == 0) return low;  // exact (zeros and infinities too)
  const std::uint16_t high = static_cast<std::uint16_t>(low + 1);
  const double a = std::fabs(static_cast<double>(from_bits(std::uint32_t{low} << 16)));
  const double b = (high & 0x7FFF) == 0x7F80 ? std::ldexp(1.0, 128)
                                              : std::fabs(static_cast<double>(
                                                    from_bits(std::uint32_t{high} << 16)));
  const double v = std::fabs(static_cast<double>(f));
  if (v - a < b - v) return low;
  if (v - a > b - v) return high;
  return (low & 1) == 0 ? low : high;
}

std::vector<std::uint16_t> round_on_device(const std::vector<float>& in) {
  DeviceBuffer<float> d_in{std::span<const float>(in)};
  DeviceBuffer<bf16> d_out(in.size());
  d_out.fill_bytes(0xA5);  // poison: 0xA5A5 is a number neither rounding of these inputs gives
  round_to_bf16(d_in.data(), d_out.data(), in.size());
  std::vector<std::uint16_t> out;
  for (const bf16 h : d_out.to_host()) out.push_back(bits_of(h));
  return out;
}

void expect_rounded_as_reference(const std::vector<float>& in) {
  const std::vector<std::uint16_t> got = round_on_device(in);
  int shown = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::uint16_t want = reference_bf16(in[i]);
    if (got[i] != want && shown++ < 8)
      ADD_FAILURE() << std::hex << "float 0x" << float_bits(in[i]) << ": got 0x" << got[i]
                    << ", want 0x" << want;
  }
  EXPECT_EQ(shown, 0) << "mismatches (first 8 shown)";
}

TEST(Bf16, RoundsEveryBinadeAtEveryBoundaryAsTheReference) {
  // Every upper half (all 65536 bf16 values, NaNs and infinities included) with lower halves just
  // below, at and above the halfway point, and at the ends.
  std::vector<float> in;
  for (std::uint32_t upper = 0; upper < 0x10000; ++upper)
    for (std::uint32_t lower : {0x0000u, 0x0001u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu})
      in.push_back(from_bits(upper << 16 | lower));
  in.push_back(0.0f);  // an odd count: the grid's last partial share
  expect_rounded_as_reference(in);
}

TEST(Bf16, SpecialValues) {
  const std::vector<float> in = {
      from_bits(0x7F800001), from_bits(0xFFC00000), from_bits(0x7FFFFFFF),  // NaN payloads, signs
      INFINITY, -INFINITY, 0.0f, -0.0f,
      from_bits(0x7F7F7FFF), from_bits(0x7F7F8000), from_bits(0x7F7FFFFF),  // near the largest
      from_bits(0x00000001), from_bits(0x00008000), from_bits(0x00018000),  // subnormals, ties
      from_bits(0x80008001), 1.0f + 1.0f / 256, 1.0f + 3.0f / 256};
  const std::vector<std::uint16_t> want = {0x7FFF, 0x7FFF, 0x7FFF, 0x7F80, 0xFF80, 0x0000, 0x8000,
                                           0x7F7F, 0x7F80, 0x7F80, 0x0000, 0x0000, 0x0002,
                                           0x8001, 0x3F80, 0x3F82};
  EXPECT_EQ(round_on_device(in), want);
}

TEST(Bf16, WideningIsExactForEveryValue) {
  std::vector<bf16> in;
  for (std::uint32_t b = 0; b < 0x10000; ++b) in.push_back(bf16_from_bits(static_cast<std::uint16_t>(b)));
  DeviceBuffer<bf16> d_in{std::span<const bf16>(in)};
  DeviceBuffer<float> d_out(in.size());
  d_out.fill_bytes(0xFF);
  widen_to_float(d_in.data(), d_out.data(), in.size());
  const std::vector<float> out = d_out.to_host();
  for (std::uint32_t b = 0; b < 0x10000; ++b)
    ASSERT_EQ(float_bits(out[b]), b << 16) << std::hex << "bf16 0x" << b;  // NaN payloads kept
}

}  // namespace
}  // namespace gq::kernels
