// Planted bugs the emulator must catch, and each class of strictness error, with file:line.
#include <vector>

#include "tests/cuemu/emu_test.h"
#include "tests/cuemu/kernels.cuh"

using namespace emu_test;

namespace {
const char* const kKernels = "kernels.cuh";
std::string line_of(int line) {
  return std::string(kKernels) + ":" + std::to_string(line);
}

std::vector<int> reduce(bool racy, cuemu::Order order, const std::vector<int>& in) {
  cuemu::set_order(order);
  std::vector<int> out(in.size() / 256);
  if (racy)
    cuemu::launch(k_block_reduce<256, true>, dim3(out.size()), dim3(256), 0, in.data(), out.data(),
                  static_cast<int>(in.size()));
  else
    cuemu::launch(k_block_reduce<256, false>, dim3(out.size()), dim3(256), 0, in.data(), out.data(),
                  static_cast<int>(in.size()));
  return out;
}
}  // namespace

using EmuBugs = Emu;

// Planted bug 1: a reduction without its loop barrier is wrong in at least one of the two
// orders; the correct kernel is right in both.
TEST_P(EmuBugs, MissingSyncthreadsGivesAWrongResultInSomeOrder) {
  std::vector<int> in(256 * 8);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i % 11) + 1;
  std::vector<int> want(8, 0);
  for (std::size_t i = 0; i < in.size(); ++i) want[i / 256] += in[i];
  EXPECT_EQ(reduce(false, cuemu::Order::forward, in), want);
  EXPECT_EQ(reduce(false, cuemu::Order::reverse, in), want);
  const bool fwd_wrong = reduce(true, cuemu::Order::forward, in) != want;
  const bool rev_wrong = reduce(true, cuemu::Order::reverse, in) != want;
  EXPECT_TRUE(fwd_wrong || rev_wrong);
}

// Planted bug 2: __syncthreads in a divergent branch.
TEST_P(EmuBugs, DivergentBarrier) {
  std::vector<int> out(64);
  EXPECT_CUEMU_ERROR(cuemu::launch(k_divergent_barrier, dim3(2), dim3(64), 0, out.data()),
                     "divergent barrier", line_of(kDivergentLineA), line_of(kDivergentLineB));
}

// Planted bug 3: some threads return early, the others reach a barrier.
TEST_P(EmuBugs, BarrierAfterEarlyReturn) {
  std::vector<int> in(64, 1), out(64);
  EXPECT_CUEMU_ERROR(
      cuemu::launch(k_exit_then_barrier, dim3(3), dim3(64), 0, in.data(), out.data(), 40), "exited",
      line_of(kExitBarrierLine));
}

TEST_P(EmuBugs, LenientExitAllowsBarrierAfterReturn) {
  cuemu::set_lenient_exit(true);
  std::vector<int> in(64), out(64, -1);
  for (int i = 0; i < 64; ++i) in[i] = i;
  cuemu::launch(k_exit_then_barrier, dim3(1), dim3(64), 0, in.data(), out.data(), 40);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(out[i], 39 - i);
  EXPECT_EQ(out[40], -1);
}

// Planted bug 4: a shuffle reads an inactive lane (missing from a partial warp, or exited).
TEST_P(EmuBugs, ShuffleReadsMissingLane) {
  std::vector<float> out(48);
  EXPECT_CUEMU_ERROR(cuemu::launch(k_shfl_missing_lane, dim3(2), dim3(48), 0, out.data()),
                     "__shfl_down_sync", "does not exist", line_of(kMissingLaneLine));
  EXPECT_GT(cuemu::poison_read_count(), 0u);
}

TEST_P(EmuBugs, ShuffleMaskNamesExitedLanes) {
  std::vector<int> out(32);
  EXPECT_CUEMU_ERROR(cuemu::launch(k_shfl_exited_lane, dim3(1), dim3(32), 0, out.data()),
                     "__shfl_sync", "exited", line_of(kExitedLaneLine));
}

// Planted bug 5: deadlock between a warp op and a block barrier.
TEST_P(EmuBugs, Deadlock) {
  std::vector<int> out(64);
  EXPECT_CUEMU_ERROR(cuemu::launch(k_deadlock, dim3(1), dim3(64), 0, out.data()), "deadlock",
                     "__syncwarp at", line_of(kDeadlockSyncwarpLine), "__syncthreads at",
                     line_of(kDeadlockBarrierLine));
}

TEST_P(EmuBugs, LaneNotInItsOwnMask) {
  std::vector<int> out(32);
  EXPECT_CUEMU_ERROR(cuemu::launch(k_lane_not_in_mask, dim3(1), dim3(32), 0, out.data()),
                     "not in its own mask", line_of(kNotInMaskLine));
}

TEST_P(EmuBugs, MismatchedMasks) {
  std::vector<int> out(32);
  EXPECT_CUEMU_ERROR(cuemu::launch(k_mismatched_masks, dim3(1), dim3(32), 0, out.data()),
                     "same mask", line_of(kMismatchLine));
}

TEST_P(EmuBugs, BadShuffleWidth) {
  std::vector<int> out(32);
  EXPECT_CUEMU_ERROR(cuemu::launch(k_bad_width, dim3(1), dim3(32), 0, out.data()), "width 12",
                     line_of(kBadWidthLine));
}

// After any error, the next launch on the same workers still works.
TEST_P(EmuBugs, EmulatorRecoversAfterErrors) {
  std::vector<int> out(64);
  EXPECT_THROW(cuemu::launch(k_deadlock, dim3(4), dim3(64), 0, out.data()), cuemu::error);
  std::vector<int> in(256 * 4, 1), sums(4);
  cuemu::launch(k_block_reduce<256, false>, dim3(4), dim3(256), 0, in.data(), sums.data(), 1024);
  for (int s : sums) EXPECT_EQ(s, 256);
}

EMU_INSTANTIATE(EmuBugs);
