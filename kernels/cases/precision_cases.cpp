// float32 <-> bfloat16 arrays (kernels/precision.h) on random bit patterns: every sign, mantissa
// and exponent but the top two binades (whose values can round to infinity, or are infinities and
// NaNs), subnormals included. Rounding's reference scales by bf16's spacing at the value's
// exponent and rounds to nearest even in double; widening's decodes the bits by hand. The outputs
// are the bf16 values widened on the host (exact): comparisons are exact, between the devices too.
// Every bf16 value, the bit patterns around each rounding boundary, NaN payloads, infinities and
// overflow stay in tests/kernels/test_precision.
#include <algorithm>
#include <bit>
#include <cmath>

#include "kernels/cases/case_files.h"
#include "kernels/precision.h"
#include "runtime/rng.h"

namespace gq::cases {
namespace {

// Random float bits with the exponent field below 0xFE.
std::vector<std::uint32_t> finite_bits(std::size_t n, std::uint64_t seed) {
  HostRng rng(seed, 1);
  std::vector<std::uint32_t> bits(n);
  for (std::uint32_t& b : bits) {
    b = rng.next_u32();
    if ((b >> 23 & 0xFFu) >= 0xFE) b ^= 0x40000000u;
  }
  return bits;
}

std::vector<float> floats(std::size_t n, std::uint64_t seed) {
  std::vector<float> f;
  for (std::uint32_t b : finite_bits(n, seed)) f.push_back(std::bit_cast<float>(b));
  return f;
}

std::vector<bf16> halves(std::size_t n, std::uint64_t seed) {
  std::vector<bf16> h;
  for (std::uint32_t b : finite_bits(n, seed)) h.push_back(bf16_from_bits(b >> 16));
  return h;
}

// f rounded to bf16's 8 significant bits (ties to even), in double: spacing 2^(e - 7) at
// exponent e, 2^-133 among the subnormals.
double round_to_bf16(double f) {
  if (f == 0) return f;
  const int e = std::max(std::ilogb(f), -126);
  return std::nearbyint(std::ldexp(f, 7 - e)) * std::ldexp(1.0, e - 7);
}

// A bf16 from its fields: (-1)^s 1.m 2^(e - 127), or 0.m 2^-126 when e is 0.
double decode(std::uint16_t b) {
  const int e = b >> 7 & 0xFF, m = b & 0x7F;
  const double magnitude =
      e == 0 ? std::ldexp(m / 128.0, -126) : std::ldexp(1 + m / 128.0, e - 127);
  return b & 0x8000 ? -magnitude : magnitude;
}

KernelCase round_case() {
  KernelCase c;
  c.name = "precision/round_to_bf16";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto in = std::make_shared<DeviceBuffer<float>>(std::span<const float>(floats(n, seed)));
    auto out = std::make_shared<DeviceBuffer<bf16>>(n);
    out->fill_bytes(0xff);  // a NaN
    return PreparedCase{[in, out, n] { kernels::round_to_bf16(in->data(), out->data(), n); },
                        [out] {
                          std::vector<float> r;
                          for (bf16 h : out->to_host()) r.push_back(to_float(h));
                          return r;
                        }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    std::vector<double> want;
    for (float f : floats(size[0], seed)) want.push_back(round_to_bf16(f));
    return Reference(std::move(want));
  };
  c.bytes_per_element = 6;
  return c;
}

KernelCase widen_case() {
  KernelCase c;
  c.name = "precision/widen_to_float";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    const std::size_t n = size[0];
    auto in = std::make_shared<DeviceBuffer<bf16>>(std::span<const bf16>(halves(n, seed)));
    auto b = buffers({}, 1, n);
    return PreparedCase{[in, b, n] { kernels::widen_to_float(in->data(), b->out[0].data(), n); },
                        [b] { return b->outputs(); }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    std::vector<double> want;
    for (bf16 h : halves(size[0], seed)) want.push_back(decode(bits_of(h)));
    return Reference(std::move(want));
  };
  c.bytes_per_element = 6;
  return c;
}

}  // namespace

std::vector<KernelCase> precision_cases() {
  std::vector<KernelCase> out = {round_case(), widen_case()};
  for (KernelCase& c : out) c.sizes = {{1}, {31}, {257}, {4097}, {65539}, {1000003}};
  return out;
}

}  // namespace gq::cases
