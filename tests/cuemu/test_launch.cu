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
