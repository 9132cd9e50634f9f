// --gq-ring-precision bf16 through GradQueue and the Trainer on real MNIST (GQ_DATA_DIR): the
// ring's memory-plan row and checkpoint section shrink by half the slots, an interrupted and
// resumed run writes the same last checkpoint as an uninterrupted one, and a resume with the other
// ring precision is refused naming the setting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "models/linear.h"
#include "models/sequential.h"
#include "runtime/error.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/grad_queue.h"
#include "runtime/train/trainer.h"
#include "tests/temp_dir.h"
#include "tests/train/trainer_steps.h"

namespace gq::train {
namespace {

using gq::test::TempDir;

constexpr int kQmax = 4;  // small, so that nine steps wrap the ring and evict

TrainConfig ring_config(Precision ring) {
  TrainConfig cfg = small_mnist_config(32, 1, 640, 200, 7);
  cfg.gradqueue = true;
  cfg.gq.clusters = 4;
  cfg.gq.qmin = 2;
  cfg.gq.qmax = kQmax;
  ring_precision(cfg.gq) = ring;
  return cfg;
}

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t row_bytes(const StateRegistry& reg, const std::string& row) {
  for (const auto& [name, bytes] : reg.memory_rows())
    if (name == row) return bytes;
  return 0;
}

TEST(GradQueueRingBf16, HalvesTheSlotsInTheMemoryPlanAndTheCheckpoint) {
  const int b = 16, features = 9, classes = 5;
  models::Sequential model;
  model.add("fc1", std::make_unique<models::Linear>(7));
  model.add("fc2", std::make_unique<models::Linear>(classes));
  model.setup(Shape{features}, b);
  model.initialize(1);
  const std::size_t p = model.params().size();
  std::size_t queue[2] = {}, slots[2] = {};
  for (const Precision ring : {Precision::fp32, Precision::bf16}) {
    GradQueueConfig cfg;
    cfg.clusters = 2;
    cfg.qmax = 5;
    ring_precision(cfg) = ring;
    GradQueue gq(cfg, model, 3);
    StateRegistry reg;
    gq.register_state(reg);
    const int i = ring == Precision::bf16;
    queue[i] = row_bytes(reg, "gq queue (qmax x P)");
    for (const StateEntry& e : reg.entries())
      if (e.name == "gq.slots") {
        slots[i] = e.bytes;
        EXPECT_EQ(e.is_float, ring == Precision::fp32);  // bf16 bits are plain data
        EXPECT_TRUE(e.use.checkpointed);
      }
  }
  EXPECT_EQ(slots[0], 5 * p * sizeof(float));
  EXPECT_EQ(slots[1], 5 * p * 2);
  EXPECT_EQ(queue[0] - queue[1], 5 * p * 2);
}

// The checkpoint of an uninterrupted bf16-ring run equals, byte for byte, that of the same run
// interrupted at step 5 and resumed; it records the setting, and its ring differs from fp32's.
TEST(GradQueueRingBf16, ResumeWritesTheSameLastCheckpointAsAnUninterruptedRun) {
  const TrainConfig cfg = ring_config(Precision::bf16);
  const TempDir dir("ring_bf16_resume");
  Trainer straight(cfg);
  run_steps(straight, 9);
  straight.save(dir / "straight.ckpt");
  {
    Trainer first(cfg);
    run_steps(first, 5);
    first.save(dir / "mid.ckpt");
  }
  Trainer resumed(cfg);
  resumed.load(dir / "mid.ckpt");
  run_steps(resumed, 4);
  resumed.save(dir / "resumed.ckpt");
  const Checkpoint a = read_checkpoint(dir / "straight.ckpt");
  const Checkpoint b = read_checkpoint(dir / "resumed.ckpt");
  ASSERT_EQ(a.sections.size(), b.sections.size());
  for (const auto& [name, values] : a.sections) {
    const std::vector<float>& other = b.sections.at(name);
    ASSERT_EQ(values.size(), other.size()) << name;
    EXPECT_EQ(std::memcmp(values.data(), other.data(), values.size() * sizeof(float)), 0) << name;
  }
  EXPECT_EQ(file_bytes(dir / "straight.ckpt"), file_bytes(dir / "resumed.ckpt"));
  EXPECT_EQ(a.header.at("settings").at("gq-ring-precision"), "bf16");
  const std::size_t p = straight.model().params().size();
  EXPECT_EQ(a.sections.at("gq.slots").size(), (kQmax * p + 1) / 2);

  Trainer fp32(ring_config(Precision::fp32));
  run_steps(fp32, 9);
  fp32.save(dir / "fp32.ckpt");
  const Checkpoint c = read_checkpoint(dir / "fp32.ckpt");
  EXPECT_FALSE(c.header.at("settings").contains("gq-ring-precision"));  // as before the setting
  EXPECT_NE(params_of(fp32), params_of(straight)) << "the bf16 ring trained fp32's bits";
}

// A resume must keep the ring's precision: either way round the setting is named.
TEST(GradQueueRingBf16, ResumeWithTheOtherRingPrecisionIsRefused) {
  const TempDir dir("ring_bf16_refuse");
  for (const Precision written : {Precision::fp32, Precision::bf16}) {
    const Precision other = written == Precision::bf16 ? Precision::fp32 : Precision::bf16;
    const std::string file = std::string(name(written)) + ".ckpt";
    {
      Trainer t(ring_config(written));
      run_steps(t, 3);
      t.save(dir / file);
    }
    try {
      Trainer u(ring_config(other));
      u.load(dir / file);
      ADD_FAILURE() << "resumed a " << name(written) << " ring as " << name(other);
    } catch (const Error& e) {
      const std::string msg = e.what();
      const std::string want = written == Precision::bf16
                                   ? "--gq-ring-precision: checkpoint bf16"
                                   : "--gq-ring-precision: not recorded in the checkpoint, "
                                     "this run bf16";
      EXPECT_NE(msg.find(want), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace gq::train
