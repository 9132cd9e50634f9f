// Built-in variables in 3D grids and blocks, kernel arguments, intrinsics, printf.
#include <cmath>
#include <vector>

#include "tests/cuemu/emu_test.h"
#include "tests/cuemu/kernels.cuh"

using namespace emu_test;

TEST_P(Emu, BuiltinsIn3D) {
  const dim3 grid(3, 2, 2), block(4, 3, 5);
  const unsigned nb = 12, nt = 60;
  std::vector<unsigned> out(13 * nb * nt, 0xdeadu);
  cuemu::launch(k_builtins, grid, block, 0, out.data());
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 2; ++by)
      for (unsigned bx = 0; bx < 3; ++bx)
        for (unsigned tz = 0; tz < 5; ++tz)
          for (unsigned ty = 0; ty < 3; ++ty)
            for (unsigned tx = 0; tx < 4; ++tx) {
              const unsigned b = bx + 3 * (by + 2 * bz), t = tx + 4 * (ty + 3 * tz);
              const unsigned* o = &out[13 * (b * nt + t)];
              const unsigned want[13] = {tx, ty, tz, bx, by, bz, 4, 3, 5, 3, 2, 2, 32};
              for (int k = 0; k < 13; ++k)
                ASSERT_EQ(o[k], want[k]) << "b" << b << " t" << t << " k" << k;
            }
}

TEST_P(Emu, ArgumentsAreConverted) {
  std::vector<double> out(5);
  cuemu::launch(k_args, dim3(1), dim3(1), 0, 1.5 /*double->float*/, 2.7 /*->int*/, 3 /*->ll*/,
                0.25f /*->double*/, 258 /*->uchar*/, out.data());
  EXPECT_EQ(out[0], 1.5);
  EXPECT_EQ(out[1], 2.0);
  EXPECT_EQ(out[2], 3.0);
  EXPECT_EQ(out[3], 0.25);
  EXPECT_EQ(out[4], 2.0);
}

TEST_P(Emu, EachThreadOwnsItsParameters) {
  std::vector<int> out(64);
  cuemu::launch(k_param_copy, dim3(1), dim3(64), 0, 100, out.data());
  for (int t = 0; t < 64; ++t) ASSERT_EQ(out[t], 100 + t);
}

TEST_P(Emu, StructAndVectorArguments) {
  float out = 0;
  cuemu::launch(k_struct_arg, dim3(1), dim3(1), 0, Pod{1, 2.5f}, make_float4(1, 2, 3, 4), &out);
  EXPECT_EQ(out, 13.5f);
  static_assert(alignof(float4) == 16 && alignof(float2) == 8 && alignof(double2) == 16);
  static_assert(sizeof(float3) == 12 && alignof(int4) == 16);
}

TEST_P(Emu, Intrinsics) {
  std::vector<int> out(13);
  std::vector<float> f(9);
  cuemu::launch(k_intrinsics, dim3(1), dim3(1), 0, out.data(), f.data());
  const int want[13] = {8, 40, 31, 63, 4, 0, 1, 2, 4, 0x3f800000, 10, 1, 8};
  for (int k = 0; k < 13; ++k) EXPECT_EQ(out[k], want[k]) << k;
  const float fwant[9] = {1.0f, 1.25f, 0.5f, 2.5f, 9.0f, 0.75f, -1.0f, 0.5f, 9.0f};
  for (int k = 0; k < 9; ++k) EXPECT_FLOAT_EQ(f[k], fwant[k]) << k;
}

TEST_P(Emu, PrintfWorks) {
  ::testing::internal::CaptureStdout();
  cuemu::launch(k_printf, dim3(1), dim3(2), 0, 7);
  std::fflush(stdout);
  const std::string s = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(s.find("cuemu printf 7 from thread 0"), std::string::npos) << s;
  EXPECT_NE(s.find("cuemu printf 7 from thread 1"), std::string::npos) << s;
}

TEST_P(Emu, GridStrideSaxpy) {
  const int n = 100003;
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 97), y[i] = 1.0f;
  cuemu::launch(k_saxpy, dim3(7), dim3(256), 0, n, 2.0f, x.data(), y.data());
  for (int i = 0; i < n; ++i) ASSERT_EQ(y[i], 2.0f * static_cast<float>(i % 97) + 1.0f) << i;
}

EMU_INSTANTIATE(Emu);
