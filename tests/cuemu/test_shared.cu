// Static and dynamic shared memory, barriers and barrier votes.
#include <numeric>
#include <vector>

#include "tests/cuemu/emu_test.h"
#include "tests/cuemu/kernels.cuh"

using namespace emu_test;

using EmuShared = Emu;

TEST_P(EmuShared, StaticSharedIsPerBlock) {
  const int blocks = 64, threads = 128;
  std::vector<int> in(blocks * threads), out(blocks);
  for (int i = 0; i < blocks * threads; ++i) in[i] = (i * 7919) % 1000 - 500;
  cuemu::launch(k_static_shared_sum, dim3(blocks), dim3(threads), 0, in.data(), out.data());
  for (int b = 0; b < blocks; ++b)
    ASSERT_EQ(out[b], std::accumulate(in.begin() + b * threads, in.begin() + (b + 1) * threads, 0))
        << "block " << b;
}

TEST_P(EmuShared, DynamicSharedIsPoisonedAlignedAndShared) {
  const int n = 96, blocks = 5;
  std::vector<unsigned> out(2 * n * blocks);
  std::vector<int> flags(blocks);
  cuemu::launch(k_dyn_shared, dim3(blocks), dim3(n), n * sizeof(unsigned), out.data(), flags.data(),
                n);
  for (int b = 0; b < blocks; ++b) {
    EXPECT_EQ(flags[b], 1) << "dynamic shared memory not 16-byte aligned";
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(out[2 * n * b + i], 0xffffffffu) << "not poisoned at block start";
      ASSERT_EQ(out[2 * n * b + n + i], 1000u * b + (n - 1 - i));
    }
  }
}

TEST_P(EmuShared, BarriersInLoops) {
  const int n = 10000, blocks = (n + 255) / 256;
  std::vector<int> in(n), out(blocks);
  for (int i = 0; i < n; ++i) in[i] = i % 13 - 6;
  cuemu::launch(k_block_reduce<256, false>, dim3(blocks), dim3(256), 0, in.data(), out.data(), n);
  for (int b = 0; b < blocks; ++b) {
    int want = 0;
    for (int i = b * 256; i < std::min(n, (b + 1) * 256); ++i) want += in[i];
    ASSERT_EQ(out[b], want) << b;
  }
}

TEST_P(EmuShared, SyncthreadsCountAndOr) {
  for (unsigned threads : {1u, 33u, 256u, 1024u}) {
    std::vector<int> out(5, -1);
    cuemu::launch(k_sync_votes, dim3(2), dim3(threads), 0, out.data());
    EXPECT_EQ(out[0], static_cast<int>((threads + 2) / 3)) << threads;
    EXPECT_EQ(out[1], 1);
    EXPECT_EQ(out[2], threads > 5 ? 0 : 1);
    EXPECT_EQ(out[3], threads > 7 ? 1 : 0);
    EXPECT_EQ(out[4], 0);
  }
}

EMU_INSTANTIATE(EmuShared);
