// Checkpoint files. The input is everything but the closing checksum, which the target appends:
// a fuzzer cannot forge FNV-1a by mutation, and without it every input would stop at the checksum
// check. So every input is a forgery, and field values are forged, not only bytes. What
// parse_checkpoint accepts, the tools read without further checks: so the header fields they use
// must have their types and ranges. Grad Queue's sections, when present, go through the checks
// GradQueue::load applies (with the header's --gq-qmin / --gq-qmax): what they accept must keep
// the ring's invariants, or a resume would write past the ring. gq-export's reading of the header's
// tensor lists and offsets (checkpoint_tensors.h, through safetensors_export.h) and of the model's
// input record run on everything parse_checkpoint accepts.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "tests/fuzz/fuzz_check.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/checkpoint_tensors.h"
#include "runtime/train/ring_state_check.h"
#include "runtime/train/safetensors_export.h"
#include "runtime/train/train_config.h"

namespace {

void check_ring(const gq::train::Checkpoint& ck) {
  const auto sum = ck.sections.find("gq.sum");
  if (sum == ck.sections.end()) return;
  const nlohmann::json settings = ck.header.value("settings", nlohmann::json::object());
  const gq::train::TrainConfig defaults;  // a setting away from its default is recorded
  const int qmin = settings.value("gq-qmin", defaults.gq.qmin);
  const int qmax = settings.value("gq-qmax", defaults.gq.qmax);
  if (qmin < 1 || qmax < qmin || qmax > 4096) return;  // the settings' own checks refuse these
  const std::size_t p = sum->second.size() / 2;      // doubles
  // --gq-ring-precision is recorded only when bf16 (compared, not read, so that a forged type is
  // no exception).
  const auto slot_type = settings.contains("gq-ring-precision") &&
                                 settings["gq-ring-precision"] == "bf16"
                             ? gq::Precision::bf16
                             : gq::Precision::fp32;
  const auto r = gq::train::read_ring_sections(ck, p, qmin, qmax, slot_type, "fuzz.ckpt");
  const auto& s = r.state;
  FUZZ_CHECK(s.head >= 0 && s.head < qmax && s.count >= 0 && s.count <= qmax);
  FUZZ_CHECK(s.qlen >= qmin && s.qlen <= qmax && r.slots.size() == p * qmax);
  for (int i = 0; i < s.count; ++i) {  // what the next step reads
    const int slot = (s.head - s.count + i + qmax) % qmax;
    for (std::size_t j = 0; j < p; ++j) FUZZ_CHECK(std::isfinite(r.slots[slot * p + j]));
  }
}

// What it writes is the header, then at most every value of the checkpoint once.
void check_export(const gq::train::Checkpoint& ck, std::size_t values) {
  try {
    const std::string out = gq::train::safetensors_bytes(ck, "fuzz.ckpt");
    std::uint64_t n = 0;
    std::memcpy(&n, out.data(), sizeof n);
    FUZZ_CHECK(n % 8 == 0 && out.size() >= 8 + n && out.size() - 8 - n <= values * sizeof(float));
  } catch (const gq::Error&) {
  }
  try {
    const gq::train::ModelInput in = gq::train::checkpoint_input(ck, "fuzz.ckpt");
    FUZZ_CHECK(in.shape.size() == 1 || (in.mean.size() == static_cast<std::size_t>(in.shape[0]) &&
                                        in.stddev.size() == in.mean.size()));
    for (float s : in.stddev) FUZZ_CHECK(s > 0 && std::isfinite(s));
  } catch (const gq::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  const std::uint64_t sum = gq::train::checkpoint_checksum(bytes);
  bytes.resize(size + sizeof sum);
  std::memcpy(bytes.data() + size, &sum, sizeof sum);
  try {
    const auto ck = gq::train::parse_checkpoint(bytes, "fuzz.ckpt");
    const auto& h = ck.header;
    FUZZ_CHECK(h.at("step").get<long>() >= 0);
    FUZZ_CHECK(h.at("batch_size").get<int>() >= 1);
    FUZZ_CHECK(!h.at("model").get<std::string>().empty());
    (void)h.at("seed").get<std::uint64_t>();
    (void)h.at("gradqueue").get<bool>();
    std::size_t values = 0;
    for (const auto& [name, v] : ck.sections) values += v.size();
    FUZZ_CHECK(values * sizeof(float) <= size);
    check_export(ck, values);
    check_ring(ck);
  } catch (const gq::Error&) {
  }
  return 0;
}
