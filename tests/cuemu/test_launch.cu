// Launch validation, settings, and the persistent worker pool.
#include <vector>

#include "tests/cuemu/emu_test.h"
#include "tests/cuemu/kernels.cuh"

using namespace emu_test;

using EmuLaunch = Emu;

TEST_P(EmuLaunch, BadConfigurationsAreRejected) {
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(1), dim3(1025), 0), "1025 threads");
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(1), dim3(0), 0), "0 threads");
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(1), dim3(1, 1, 65), 0), "(1024,1024,64)");
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(1), dim3(2, 2048), 0), "threads");
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(0), dim3(32), 0), "zero dimension");
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(1, 65536), dim3(32), 0), "grid (1,65536,1)");
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(1, 1, 70000), dim3(32), 0), "exceeds");
  EXPECT_CUEMU_ERROR(cuemu::launch(k_noop, dim3(1), dim3(32), 300 * 1024), "shared memory");
  void (*null_kernel)() = nullptr;
  EXPECT_CUEMU_ERROR(cuemu::launch(null_kernel, dim3(1), dim3(1), 0), "null");
  // Limits themselves are fine.
  cuemu::launch(k_noop, dim3(1), dim3(1024), cuemu::kMaxDynamicSmem);
  cuemu::launch(k_noop, dim3(1), dim3(16, 1, 64), 0);
}

TEST_P(EmuLaunch, ManyBlocksAndRepeatedLaunches) {
  std::vector<int> in(256 * 300, 1), out(300);
  for (int rep = 0; rep < 20; ++rep) {
    cuemu::launch(k_static_shared_sum, dim3(300), dim3(128), 0, in.data(), out.data());
    for (int b = 0; b < 300; ++b) ASSERT_EQ(out[b], 128);
  }
}

TEST_P(EmuLaunch, BarrierOutsideKernelIsAnError) {
  EXPECT_CUEMU_ERROR(__syncthreads(), "outside a kernel", "test_launch.cu");
}

TEST_P(EmuLaunch, CooperativeGridSyncsEveryBlock) {
  for (const auto& [blocks, threads] : {std::pair{1u, 1u}, std::pair{3u, 1u}, std::pair{5u, 64u},
                                        std::pair{cuemu::kMaxCooperativeBlocks, 32u}}) {
    const int n = static_cast<int>(blocks * threads), rounds = 7;
    std::vector<int> a(n);
    for (int i = 0; i < n; ++i) a[i] = 1000 * i;
    cuemu::launch_cooperative(k_grid_rotate, dim3(blocks), dim3(threads), 0, a.data(), rounds);
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(a[i], 1000 * ((i + rounds * static_cast<int>(threads)) % n) + rounds)
          << blocks << " blocks of " << threads << ", element " << i;
  }
}

TEST_P(EmuLaunch, CooperativeMisuseIsReportedNotHung) {
  EXPECT_CUEMU_ERROR(cuemu::launch(k_grid_sync_only, dim3(2), dim3(4), 0),
                     "not launched cooperatively", "kernels.cuh");
  EXPECT_CUEMU_ERROR(
      cuemu::launch_cooperative(k_noop, dim3(cuemu::kMaxCooperativeBlocks + 1), dim3(1), 0),
      "at most 64 can be resident");
  EXPECT_CUEMU_ERROR(cuemu::launch_cooperative(k_grid_sync_block_leaves, dim3(3), dim3(2), 0),
                     "finished", "every block must reach every grid sync");
  EXPECT_CUEMU_ERROR(cuemu::launch_cooperative(k_grid_sync_block_fails, dim3(4), dim3(8), 0),
                     "every thread must reach every barrier", "kernels.cuh");
  // The emulator is usable afterwards.
  std::vector<int> a(6, 0);
  cuemu::launch_cooperative(k_grid_rotate, dim3(3), dim3(2), 0, a.data(), 1);
  for (int v : a) EXPECT_EQ(v, 1);
}

TEST(EmuSettings, WorkersAndOrderRoundTrip) {
  const int w = cuemu::worker_count();
  const cuemu::Order o = cuemu::order();
  EXPECT_GE(w, 1);
  cuemu::set_workers(3);
  EXPECT_EQ(cuemu::worker_count(), 3);
  cuemu::set_order(cuemu::Order::shuffle);
  EXPECT_EQ(cuemu::order(), cuemu::Order::shuffle);
  EXPECT_THROW(cuemu::set_workers(0), cuemu::error);
  cuemu::set_workers(w);
  cuemu::set_order(o);
}

EMU_INSTANTIATE(EmuLaunch);
