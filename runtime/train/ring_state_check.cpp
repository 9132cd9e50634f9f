#include "runtime/train/ring_state_check.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "runtime/error.h"

namespace gq::train {
namespace {

// The first non-finite value of `v` (or a negative one, when `non_negative`), as "[i] = x".
template <class T>
std::string first_bad(std::span<const T> v, bool non_negative) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]) || (non_negative && v[i] < 0))
      return detail::format_message("[{}] = {}", i, v[i]);
  return "";
}

void check_state_fields(const kernels::RingState& s, int qmin, int qmax, const std::string& path) {
  auto field = [&](bool ok, const char* name, long long value, const std::string& expected) {
    GQ_CHECK(ok, "{}: gq.state {} = {}, expected {} (a forged or corrupt Grad Queue state)", path,
             name, value, expected);
  };
  field(s.qmin == qmin, "qmin", s.qmin, detail::format_message("this run's --gq-qmin {}", qmin));
  field(s.qmax == qmax, "qmax", s.qmax, detail::format_message("this run's --gq-qmax {}", qmax));
  field(s.head >= 0 && s.head < qmax, "head", s.head,
        detail::format_message("0 <= head < qmax = {}", qmax));
  field(s.qlen >= qmin && s.qlen <= qmax, "qlen", s.qlen,
        detail::format_message("qmin {} <= qlen <= qmax {}", qmin, qmax));
  // Not count <= qlen: a shorter queue evicts at the next push, so a checkpoint may hold more.
  field(s.count >= 0 && s.count <= qmax, "count", s.count,
        detail::format_message("0 <= count <= qmax = {}", qmax));
  field(s.have_ema == 0 || s.have_ema == 1, "have_ema", s.have_ema, "0 or 1");
  if (s.have_ema == 1) {
    GQ_CHECK(std::isfinite(s.loss_ema) && std::isfinite(s.prev_ema),
             "{}: gq.state loss_ema = {}, prev_ema = {}, expected finite values (a forged or "
             "corrupt Grad Queue state)",
             path, s.loss_ema, s.prev_ema);
  }
}

template <class T>
std::vector<T> unpack(const std::vector<float>& v, std::size_t count) {
  std::vector<T> out(count);
  std::memcpy(out.data(), v.data(), count * sizeof(T));
  return out;
}

// The first `count` bf16 values packed in `v`, widened: the 16 bits become a float's upper half,
// exactly as runtime/bf16.h's to_float (not included: this host-only library must not need
// cuda_bf16.h in the GPU build).
std::vector<float> widen_bf16(const std::vector<float>& v, std::size_t count) {
  const std::vector<std::uint16_t> bits = unpack<std::uint16_t>(v, count);
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint32_t x = static_cast<std::uint32_t>(bits[i]) << 16;
    std::memcpy(&out[i], &x, sizeof x);
  }
  return out;
}

}  // namespace

void check_restored_ring(const RestoredRing& ring, int qmin, int qmax, const std::string& path) {
  const kernels::RingState& s = ring.state;
  check_state_fields(s, qmin, qmax, path);
  auto values = [&](const std::string& bad, const char* section, const char* expected) {
    GQ_CHECK(bad.empty(), "{}: {}{}, expected {} (a forged or corrupt Grad Queue state)", path,
             section, bad, expected);
  };
  values(first_bad(ring.sum, false), "gq.sum", "finite values");
  // Not >= 0: the running sum of squares subtracts what it evicts, so rounding leaves tiny
  // negatives where the true value is 0 (ring_statistics clamps the variance at 0).
  values(first_bad(ring.sumsq, false), "gq.sumsq", "finite values");
  values(first_bad(ring.skips, true), "gq.skips", "counts >= 0");
  for (int i = 0; i < s.count; ++i) {  // the held slots: head - count .. head - 1, mod qmax
    const int slot = (s.head - s.count + i + qmax) % qmax;
    const std::string bad = first_bad(ring.slots.subspan(static_cast<std::size_t>(slot) * ring.p,
                                                         ring.p),
                                      false);
    GQ_CHECK(bad.empty(), "{}: gq.slots slot {} (held){}, expected finite values (a forged or "
             "corrupt Grad Queue state)", path, slot, bad);
  }
}

RingSections read_ring_sections(const Checkpoint& ck, std::size_t p, int qmin, int qmax,
                                Precision slot_type, const std::string& path) {
  auto section = [&](const char* name, std::size_t bytes) -> const std::vector<float>& {
    auto it = ck.sections.find(name);
    GQ_CHECK(it != ck.sections.end() && it->second.size() * sizeof(float) >= bytes,
             "{}: section '{}' missing or too small: was the checkpoint written without "
             "--gradqueue, or with other --gq-qmax or model settings?",
             path, name);
    return it->second;
  };
  RingSections r;
  const std::size_t slot_values = static_cast<std::size_t>(qmax) * p;
  const std::size_t floats = (slot_values * value_bytes(slot_type) + 3) / sizeof(float);
  const std::vector<float>& slots = section("gq.slots", 0);  // its size is checked here
  GQ_CHECK(slots.size() == floats,
           "{}: gq.slots holds {} floats, this run's {} ring of {} x {} needs {} (was it written "
           "with another --gq-ring-precision?)",
           path, slots.size(), name(slot_type), qmax, p, floats);
  r.slots = slot_type == Precision::bf16 ? widen_bf16(slots, slot_values) : slots;
  r.sum = unpack<double>(section("gq.sum", p * sizeof(double)), p);
  r.sumsq = unpack<double>(section("gq.sumsq", p * sizeof(double)), p);
  r.state = unpack<kernels::RingState>(section("gq.state", sizeof(kernels::RingState)), 1)[0];
  r.skips = unpack<std::int32_t>(section("gq.skips", 2 * sizeof(std::int32_t)), 2);
  check_restored_ring({r.state, r.slots, r.sum, r.sumsq, r.skips, p}, qmin, qmax, path);
  return r;
}

}  // namespace gq::train
