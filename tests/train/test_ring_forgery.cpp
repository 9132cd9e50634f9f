// Grad Queue's state in a checkpoint is untrusted input: a checkpoint whose ring fields or values
// were forged (and its checksum recomputed, as write_checkpoint does) is refused on load, naming
// the field, before anything reaches the device; so is a non-finite value in any other section;
// an honest checkpoint loads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "kernels/gradient_ring.h"
#include "runtime/bf16.h"
#include "runtime/error.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/ring_state_check.h"
#include "tests/train/trainer_steps.h"

namespace gq::train {
namespace {

constexpr int kQmin = 2, kQmax = 6;

TrainConfig gq_config() {
  TrainConfig cfg = small_mnist_config(16, 1, 160, 32, 5);
  cfg.gradqueue = true;
  cfg.gq.clusters = 2;
  cfg.gq.qmin = kQmin;
  cfg.gq.qmax = kQmax;
  return cfg;
}

class RingForgery : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / "gq_test_ring_forgery";
    std::filesystem::create_directories(dir_);
    trainer_ = std::make_unique<Trainer>(gq_config());
    run_steps(*trainer_, 4);  // the ring holds entries, the loss EMA is set
    trainer_->save(dir_ / "honest.ckpt");
  }
  static void TearDownTestSuite() {
    trainer_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Writes the honest checkpoint with `forge` applied (checksum recomputed) and loads it.
  static void load_forged(const std::function<void(Checkpoint&)>& forge) {
    Checkpoint ck = read_checkpoint(dir_ / "honest.ckpt");
    forge(ck);
    write_checkpoint(dir_ / "forged.ckpt", ck);
    trainer_->load(dir_ / "forged.ckpt");  // a refused load is followed by a full one anyway
  }
  static void forge_state(const std::function<void(kernels::RingState&)>& edit) {
    expect_refused([&](Checkpoint& ck) {
      std::vector<float>& v = ck.sections.at("gq.state");
      kernels::RingState s;
      std::memcpy(&s, v.data(), sizeof s);
      edit(s);
      std::memcpy(v.data(), &s, sizeof s);
    }, "");
  }
  static void expect_refused(const std::function<void(Checkpoint&)>& forge,
                             const std::string& names) {
    try {
      load_forged(forge);
      ADD_FAILURE() << "the forged checkpoint was accepted";
    } catch (const Error& e) {
      last_message_ = e.what();
      EXPECT_NE(last_message_.find("forged.ckpt"), std::string::npos) << last_message_;
      EXPECT_NE(last_message_.find(names), std::string::npos) << last_message_;
    }
  }

  static inline std::unique_ptr<Trainer> trainer_;
  static inline std::filesystem::path dir_;
  static inline std::string last_message_;
};

TEST_F(RingForgery, AnHonestCheckpointLoads) {
  EXPECT_NO_THROW(load_forged([](Checkpoint&) {}));
}

TEST_F(RingForgery, RingFieldsOutsideTheirInvariantsAreRefusedByName) {
  const struct {
    const char* name;
    std::function<void(kernels::RingState&)> edit;
  } cases[] = {
      {"gq.state head = 1000000", [](auto& s) { s.head = 1'000'000; }},
      {"gq.state head = -5", [](auto& s) { s.head = -5; }},
      {"gq.state count = 1000000", [](auto& s) { s.count = 1'000'000; }},
      {"gq.state count = -1", [](auto& s) { s.count = -1; }},
      {"gq.state qmax = 64", [](auto& s) { s.qmax = 64; }},
      {"gq.state qmin = 0", [](auto& s) { s.qmin = s.qlen = 0; }},
      {"gq.state qlen = 7", [](auto& s) { s.qlen = kQmax + 1; }},
      {"gq.state have_ema = 2", [](auto& s) { s.have_ema = 2; }},
      {"gq.state loss_ema = nan", [](auto& s) { s.loss_ema = std::nan(""); }},
      {"prev_ema = inf", [](auto& s) { s.prev_ema = INFINITY; }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    forge_state(c.edit);
    EXPECT_NE(last_message_.find(c.name), std::string::npos) << last_message_;
  }
}

TEST_F(RingForgery, NonFiniteStatisticsAndHeldSlotsAreRefusedByName) {
  auto poke_double = [](const char* section, std::size_t i, double value) {
    return [=](Checkpoint& ck) {
      std::memcpy(reinterpret_cast<char*>(ck.sections.at(section).data()) + i * sizeof(double),
                  &value, sizeof value);
    };
  };
  expect_refused(poke_double("gq.sum", 3, std::nan("")), "gq.sum[3] = nan");
  expect_refused(poke_double("gq.sumsq", 0, -std::nan("")), "gq.sumsq[0] = -nan");
  expect_refused(poke_double("gq.sumsq", 7, INFINITY), "gq.sumsq[7] = inf");
  expect_refused([](Checkpoint& ck) { ck.sections.at("gq.skips")[0] = -1.0f; }, "gq.skips");
  // A NaN in the newest held slot (head - 1) is refused; slots never written are not read.
  Checkpoint honest = read_checkpoint(dir_ / "honest.ckpt");
  kernels::RingState s;
  std::memcpy(&s, honest.sections.at("gq.state").data(), sizeof s);
  ASSERT_GE(s.count, 1);
  const std::size_t p = honest.sections.at("gq.slots").size() / kQmax;
  const int newest = (s.head + kQmax - 1) % kQmax;
  expect_refused([&](Checkpoint& ck) {
    ck.sections.at("gq.slots")[newest * p + 11] = std::numeric_limits<float>::quiet_NaN();
  }, "gq.slots slot " + std::to_string(newest) + " (held)[11] = nan");
}

// A bf16 ring's gq.slots holds the bits two to a float: unpacked and widened, checked as fp32's are,
// and a section of the other ring precision's size is refused naming the setting.
TEST_F(RingForgery, Bf16SlotsAreUnpackedAndCheckedAndTheOtherPrecisionIsRefused) {
  const Checkpoint honest = read_checkpoint(dir_ / "honest.ckpt");
  const std::vector<float>& fp32 = honest.sections.at("gq.slots");
  const std::size_t p = fp32.size() / kQmax;
  try {
    read_ring_sections(honest, p, kQmin, kQmax, Precision::bf16, "x.ckpt");
    ADD_FAILURE() << "an fp32 ring was read as bf16";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another --gq-ring-precision"), std::string::npos)
        << e.what();
  }
  Checkpoint ck = honest;  // the same ring, rounded to bf16 and packed
  std::vector<std::uint16_t> bits(fp32.size() + 1, 0);
  for (std::size_t i = 0; i < fp32.size(); ++i) bits[i] = bits_of(to_bf16(fp32[i]));
  std::vector<float>& packed = ck.sections.at("gq.slots");
  packed.assign((fp32.size() + 1) / 2, 0.0f);
  std::memcpy(packed.data(), bits.data(), packed.size() * sizeof(float));
  const RingSections r = read_ring_sections(ck, p, kQmin, kQmax, Precision::bf16, "x.ckpt");
  ASSERT_EQ(r.slots.size(), fp32.size());
  for (std::size_t i = 0; i < fp32.size(); ++i) {  // bits: slots not held may hold NaN
    const float want = to_float(bf16_from_bits(bits[i]));
    ASSERT_EQ(std::memcmp(&r.slots[i], &want, sizeof want), 0) << i;
  }
  kernels::RingState s;
  std::memcpy(&s, ck.sections.at("gq.state").data(), sizeof s);
  const int newest = (s.head + kQmax - 1) % kQmax;
  const std::uint16_t nan = 0x7FC0;
  std::memcpy(reinterpret_cast<char*>(packed.data()) + (newest * p + 11) * 2, &nan, 2);
  try {
    read_ring_sections(ck, p, kQmin, kQmax, Precision::bf16, "x.ckpt");
    ADD_FAILURE() << "a NaN in a held bf16 slot was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gq.slots slot " + std::to_string(newest) +
                                         " (held)[11] = nan"),
              std::string::npos)
        << e.what();
  }
}

// The same holds for every other section: a NaN in the optimizer's momentum or the parameters
// would otherwise be trained on and copied into every later checkpoint.
TEST_F(RingForgery, NonFiniteOptimizerStateAndParametersAreRefusedByName) {
  expect_refused([](Checkpoint& ck) { ck.sections.at("momentum")[5] = INFINITY; },
                 "section 'momentum' holds inf at index 5");
  expect_refused([](Checkpoint& ck) { ck.sections.at("params")[0] = std::nanf(""); },
                 "section 'params' holds nan at index 0");
}

}  // namespace
}  // namespace gq::train
