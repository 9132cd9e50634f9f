// Atomics of every kind and type under contention across blocks and workers.
#include <vector>

#include "tests/cuemu/emu_test.h"
#include "tests/cuemu/kernels.cuh"

using namespace emu_test;

using EmuAtomics = Emu;

namespace {

template <class T>
void check_integer_atomics() {
  const unsigned blocks = 40, threads = 128, n = blocks * threads;
  std::vector<T> c = {0, 0, static_cast<T>(1u << 30), 0, static_cast<T>(n)};
  unsigned long long sum_exch = 0;
  cuemu::launch(k_atomics<T>, dim3(blocks), dim3(threads), 0, c.data(), &sum_exch);
  EXPECT_EQ(c[0], static_cast<T>(n));
  EXPECT_EQ(c[1], static_cast<T>(n - 1));
  EXPECT_EQ(c[2], static_cast<T>(5));
  EXPECT_EQ(c[3], static_cast<T>(2 * n));
  // Every value put into c[4] (the initial n and each gid) comes out exactly once.
  const unsigned long long all = n + 1ull * n * (n - 1) / 2;
  EXPECT_EQ(sum_exch + static_cast<unsigned long long>(c[4]), all);
}

}  // namespace

TEST_P(EmuAtomics, Int) {
  check_integer_atomics<int>();
}
TEST_P(EmuAtomics, Unsigned) {
  check_integer_atomics<unsigned>();
}
TEST_P(EmuAtomics, UnsignedLongLong) {
  check_integer_atomics<unsigned long long>();
}

TEST_P(EmuAtomics, Sub) {
  int i = 0;
  unsigned u = 100000;
  cuemu::launch(k_atomic_sub<int>, dim3(30), dim3(100), 0, &i);
  cuemu::launch(k_atomic_sub<unsigned>, dim3(30), dim3(100), 0, &u);
  EXPECT_EQ(i, -9000);
  EXPECT_EQ(u, 91000u);
}

TEST_P(EmuAtomics, FloatAndDoubleAdd) {
  float f = 0;
  double d = 0;
  cuemu::launch(k_atomic_fadd<float>, dim3(50), dim3(200), 0, &f, 0.1f);
  cuemu::launch(k_atomic_fadd<double>, dim3(50), dim3(200), 0, &d, 0.1);
  EXPECT_NEAR(f, 1000.0f, 1.0f);
  EXPECT_NEAR(d, 1000.0, 1e-9);
  float exact = 0;
  cuemu::launch(k_atomic_fadd<float>, dim3(64), dim3(256), 0, &exact, 0.5f);
  EXPECT_EQ(exact, 8192.0f);
}

TEST(EmuAtomicsHost, MinMaxExchOnOtherTypes) {
  long long ll = 5;
  EXPECT_EQ(atomicMax(&ll, 9ll), 5);
  EXPECT_EQ(atomicMin(&ll, -3ll), 9);
  EXPECT_EQ(ll, -3);
  float f = 1.0f;
  EXPECT_EQ(atomicExch(&f, 2.0f), 1.0f);
  EXPECT_EQ(f, 2.0f);
  unsigned u = 3;
  EXPECT_EQ(atomicInc(&u, 3u), 3u);
  EXPECT_EQ(u, 0u);
  EXPECT_EQ(atomicDec(&u, 7u), 0u);
  EXPECT_EQ(u, 7u);
  EXPECT_EQ(atomicOr(&u, 8u), 7u);
  EXPECT_EQ(atomicAnd(&u, 12u), 15u);
  EXPECT_EQ(atomicXor(&u, 12u), 12u);
  EXPECT_EQ(u, 0u);
}

EMU_INSTANTIATE(EmuAtomics);
