// The state registry (runtime/train/state_registry.h) on the device: a checkpoint round trip of
// float and plain state bit for bit; a refused restore (missing, wrong size, non-finite, a failed
// restore check) changes nothing on the device; the restore checks run for their role only; the
// non-finite check names the first bad part and skips unchecked state; the memory plan's rows;
// registration mistakes (a name twice, finite or averaged plain state, after seal); older checkpoints' unnamed model state.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "runtime/error.h"
#include "runtime/memory.h"
#include "runtime/train/state_registry.h"

namespace gq::train {
namespace {

struct Plain {
  std::int32_t a;
  double b;
};

std::vector<float> host(const DeviceBuffer<float>& b) { return b.to_host(); }

class StateRegistryTest : public ::testing::Test {
 protected:
  StateRegistryTest() {
    params.upload(std::vector<float>{1, 2, 3, 4, 5});
    momentum.upload(std::vector<float>{-1, -2, -3, -4, -5});
    sums.upload(std::vector<double>{0.1, -1e300, 3.0});
    const Plain p{7, -0.25};
    plain.upload(std::span<const Plain>(&p, 1));
    scratch.upload(std::vector<float>{std::nanf(""), 0, 0});
    const StateUse kept{.checkpointed = true, .finite = true};
    reg.add("params", StateRole::parameters, params.span(), kept,
            {{"w", 0, 3}, {"b", 3, 2}});
    reg.add("momentum", StateRole::optimizer_state, momentum.span(), kept);
    reg.add_plain("gq.sum", StateRole::grad_queue, sums, {.checkpointed = true});
    reg.add_plain("gq.state", StateRole::grad_queue, plain, {.checkpointed = true});
    reg.add("", StateRole::working, scratch.span(), {}, {}, "batch buffers");
    reg.add_restore_check(StateRole::grad_queue, [this](const Checkpoint& ck,
                                                         const std::string& path) {
      ++checks;
      GQ_CHECK(ck.sections.at("gq.sum").size() == 6, "check saw the wrong section");
      if (fail_check) GQ_FAIL("{}: the ring check refused it", path);
    });
    reg.seal();
  }
  // Every checkpointed buffer overwritten: what a restore must undo (or, refused, leave alone).
  void poison() {
    params.upload(std::vector<float>(5, 99.0f));
    momentum.upload(std::vector<float>(5, 98.0f));
    sums.upload(std::vector<double>(3, 97.0));
  }
  Checkpoint saved() const {
    Checkpoint ck;
    reg.save(ck);
    return ck;
  }

  DeviceBuffer<float> params{5}, momentum{5}, scratch{3};
  DeviceBuffer<double> sums{3};
  DeviceBuffer<Plain> plain{1};
  StateRegistry reg;
  int checks = 0;
  bool fail_check = false;
};

TEST_F(StateRegistryTest, SavesCheckpointedStateOnlyAndRestoresItBitForBit) {
  const Checkpoint ck = saved();
  ASSERT_EQ(ck.sections.size(), 4u);  // not the working memory
  EXPECT_EQ(ck.sections.at("gq.sum").size(), 6u);    // 3 doubles in 6 floats
  EXPECT_EQ(ck.sections.at("gq.state").size(), 4u);  // 16 bytes
  poison();
  plain.fill_bytes(0x55);
  reg.restore(ck, "x.ckpt");
  EXPECT_EQ(host(params), (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_EQ(host(momentum), (std::vector<float>{-1, -2, -3, -4, -5}));
  EXPECT_EQ(sums.to_host(), (std::vector<double>{0.1, -1e300, 3.0}));
  const Plain p = plain.to_host()[0];
  EXPECT_EQ(p.a, 7);
  EXPECT_EQ(p.b, -0.25);
  EXPECT_EQ(checks, 1);
}

TEST_F(StateRegistryTest, ARefusedRestoreChangesNothing) {
  const auto refused = [&](Checkpoint ck, const std::string& expected) {
    poison();
    try {
      reg.restore(ck, "forged.ckpt");
      ADD_FAILURE() << "accepted; expected: " << expected;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("forged.ckpt"), std::string::npos) << e.what();
    }
    EXPECT_EQ(host(params), std::vector<float>(5, 99.0f)) << expected;
    EXPECT_EQ(sums.to_host(), std::vector<double>(3, 97.0)) << expected;
  };
  Checkpoint ck = saved();
  ck.sections["momentum"][4] = INFINITY;  // the last section checked: params come first
  refused(ck, "section 'momentum' holds inf at index 4");
  ck = saved();
  ck.sections.erase("gq.state");
  refused(ck, "section 'gq.state' missing or of the wrong size (expected 4 values)");
  ck = saved();
  ck.sections["params"].pop_back();
  refused(ck, "section 'params' missing or of the wrong size (expected 5 values)");
  fail_check = true;
  refused(saved(), "the ring check refused it");
  // Plain state is not held to finiteness (its bits are doubles, ints, structs).
  fail_check = false;
  ck = saved();
  ck.sections["gq.sum"][0] = std::nanf("");
  EXPECT_NO_THROW(reg.restore(ck, "x.ckpt"));
}

TEST_F(StateRegistryTest, RestoresOnlyTheRolesAskedForAndRunsOnlyTheirChecks) {
  Checkpoint ck = saved();
  ck.sections.erase("gq.sum");  // not needed for the model's roles
  poison();
  fail_check = true;
  reg.restore(ck, "x.ckpt", {StateRole::parameters});
  EXPECT_EQ(checks, 0);
  EXPECT_EQ(host(params), (std::vector<float>{1, 2, 3, 4, 5}));
  EXPECT_EQ(host(momentum), std::vector<float>(5, 98.0f));
}

TEST_F(StateRegistryTest, FirstNonfiniteNamesTheFirstBadPartAndSkipsUncheckedState) {
  EXPECT_EQ(reg.first_nonfinite(), std::nullopt);  // the NaN in the working memory is not read
  std::vector<float> v{1, 2, 3, 4, -INFINITY};
  params.upload(v);
  EXPECT_EQ(reg.first_nonfinite(), "parameter b");
  momentum.upload(std::vector<float>{0, std::nanf(""), 0, 0, 0});
  EXPECT_EQ(reg.first_nonfinite(), "parameter b");  // in registration order
  params.upload(std::vector<float>{1, 2, 3, 4, 5});
  EXPECT_EQ(reg.first_nonfinite(), "optimizer state momentum");
}

TEST_F(StateRegistryTest, MemoryRowsCountEveryBufferInFirstUseOrder) {
  StateRegistry r;
  r.add("params", StateRole::parameters, params.span(), {});
  r.add_memory("activations", 1000);
  r.add_plain("", StateRole::working, sums, {}, "batch buffers");
  r.add_memory("activations", 24);
  r.seal();  // its flags and scratch count as batch buffers
  const auto rows = r.memory_rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::pair<std::string, std::size_t>{"parameters", 20}));
  EXPECT_EQ(rows[1], (std::pair<std::string, std::size_t>{"activations", 1024}));
  EXPECT_EQ(rows[2].first, "batch buffers");
  EXPECT_GE(rows[2].second, 24u + 4u);
  EXPECT_EQ(r.entries()[1].name, "batch buffers");  // unnamed working memory: named by its row
}

TEST_F(StateRegistryTest, MistakesInRegistrationAreRefused) {
  StateRegistry r;
  r.add("momentum", StateRole::optimizer_state, momentum.span(), {.checkpointed = true});
  EXPECT_THROW(r.add("momentum", StateRole::model_state, params.span(), {.checkpointed = true}),
               Error);
  EXPECT_THROW(r.add_plain("gq.sum", StateRole::grad_queue, sums, {.finite = true}), Error);
  EXPECT_THROW(r.add_plain("avg", StateRole::model_state, sums, {.averaged_over_ranks = true}),
               Error);
  r.seal();
  EXPECT_THROW(r.add_memory("late", 4), Error);
  EXPECT_THROW(r.add("late", StateRole::working, scratch.span(), {}), Error);
}

TEST(LegacyModelState, UnnamedSectionsAreSplitIntoTheRegistrysNames) {
  DeviceBuffer<float> a{2}, b{2}, c{3};
  StateRegistry r;
  r.add("bn1.running_mean", StateRole::model_state, a.span(), {.checkpointed = true});
  r.add("bn1.running_var", StateRole::model_state, b.span(), {.checkpointed = true});
  r.add("bn2.running_mean", StateRole::model_state, c.span(), {.checkpointed = true});
  Checkpoint ck;
  ck.sections["state0"] = {1, 2, 3, 4};  // a layer's mean then variance
  ck.sections["state1"] = {5, 6, 7};
  ck.sections["params"] = {9};
  name_legacy_model_state(ck, r, "old.ckpt");
  EXPECT_EQ(ck.sections.at("bn1.running_mean"), (std::vector<float>{1, 2}));
  EXPECT_EQ(ck.sections.at("bn1.running_var"), (std::vector<float>{3, 4}));
  EXPECT_EQ(ck.sections.at("bn2.running_mean"), (std::vector<float>{5, 6, 7}));
  EXPECT_EQ(ck.sections.count("state0"), 0u);
  EXPECT_EQ(ck.sections.size(), 4u);
  Checkpoint named = ck;  // already named: left alone
  name_legacy_model_state(named, r, "new.ckpt");
  EXPECT_EQ(named.sections, ck.sections);
  Checkpoint short_one;
  short_one.sections["state0"] = {1, 2, 3};
  try {
    name_legacy_model_state(short_one, r, "old.ckpt");
    ADD_FAILURE() << "accepted a model state of 3 values for 7";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("old.ckpt: its model state (sections state0, state1, "
                                         "...) holds 3 values, this model's 7"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace gq::train
