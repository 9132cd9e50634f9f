// Warp shuffles (every kind, widths 2..32, partial warps), votes, __syncwarp, __activemask.
#include <cstring>
#include <vector>

#include "tests/cuemu/emu_test.h"
#include "tests/cuemu/kernels.cuh"

using namespace emu_test;

using EmuWarp = Emu;

namespace {

// CUDA's documented shuffle source lane, or -1 when the lane keeps its own value.
int reference_source(int kind, int lane, int arg, int width) {
  const int base = lane & ~(width - 1), seg = lane & (width - 1);
  switch (kind) {
    case kIdx:
      return base + (arg & (width - 1));
    case kUp:
      return seg - arg < 0 ? -1 : lane - arg;
    case kDown:
      return seg + arg >= width ? -1 : lane + arg;
    default: {
      const int src = lane ^ arg;
      return src >= base + width ? -1 : src;
    }
  }
}

template <class T>
void check_shuffles(unsigned threads) {
  for (int kind : {kIdx, kUp, kDown, kXor})
    for (int width : {2, 4, 8, 16, 32})
      for (int arg : {0, 1, 3, width / 2, width - 1, 31}) {
        cuemu::reset_poison_read_count();
        std::vector<T> out(threads);
        cuemu::launch(k_shfl<T>, dim3(2), dim3(threads), 0, out.data(), kind, arg, width);
        unsigned long long poisoned = 0;
        for (unsigned t = 0; t < threads; ++t) {
          const int lane = static_cast<int>(t % 32);
          const unsigned warp_base = t - lane;
          const int src = reference_source(kind, lane, arg, width);
          T want = static_cast<T>(t * 3 + 1);
          if (src >= 0 && warp_base + src < threads) {
            want = static_cast<T>((warp_base + src) * 3 + 1);
          } else if (src >= 0) {  // a lane of a partial warp that does not exist: poison
            std::memset(&want, 0xff, sizeof want);
            ++poisoned;
          }
          ASSERT_EQ(std::memcmp(&out[t], &want, sizeof(T)), 0)
              << "kind " << kind << " width " << width << " arg " << arg << " thread " << t;
        }
        // Two blocks each read the same missing lanes.
        EXPECT_EQ(cuemu::poison_read_count(), 2 * poisoned);
      }
}

}  // namespace

TEST_P(EmuWarp, ShufflesInt) {
  check_shuffles<int>(64);
}
TEST_P(EmuWarp, ShufflesFloat) {
  check_shuffles<float>(64);
}
TEST_P(EmuWarp, ShufflesDouble) {
  check_shuffles<double>(96);
}
TEST_P(EmuWarp, ShufflesLongLong) {
  check_shuffles<long long>(32);
}
TEST_P(EmuWarp, ShufflesUnsignedPartialWarp) {
  check_shuffles<unsigned>(48);
}

TEST_P(EmuWarp, WarpSum) {
  const int blocks = 9, threads = 256;
  std::vector<float> in(blocks * threads), out(blocks * threads / 32);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 5);
  cuemu::launch(k_warp_sum, dim3(blocks), dim3(threads), 0, in.data(), out.data());
  for (std::size_t w = 0; w < out.size(); ++w) {
    float want = 0;
    for (int l = 0; l < 32; ++l) want += in[32 * w + l];
    ASSERT_EQ(out[w], want) << w;
  }
}

TEST_P(EmuWarp, BallotAnyAllActivemask) {
  for (unsigned threads : {32u, 64u, 48u}) {
    const unsigned warps = (threads + 31) / 32;
    std::vector<unsigned> out(5 * warps);
    cuemu::launch(k_votes, dim3(3), dim3(threads), 0, out.data());
    for (unsigned w = 0; w < warps; ++w) {
      const unsigned lanes = std::min(32u, threads - 32 * w);
      const unsigned exists = lanes == 32 ? ~0u : (1u << lanes) - 1;
      EXPECT_EQ(out[5 * w], 0x55555555u & exists) << threads << " warp " << w;
      EXPECT_EQ(out[5 * w + 1], lanes == 32 ? 1u : 0u);
      EXPECT_EQ(out[5 * w + 2], 1u);
      EXPECT_EQ(out[5 * w + 3], 0u);
      EXPECT_EQ(out[5 * w + 4], exists);
    }
  }
}

TEST_P(EmuWarp, ReadOutsideMaskIsPoisonedAndCounted) {
  std::vector<unsigned> out(32, 7);
  cuemu::launch(k_shfl_outside_mask, dim3(1), dim3(32), 0, out.data());
  for (int l = 0; l < 16; ++l) EXPECT_EQ(out[l], 0xffffffffu) << l;
  EXPECT_EQ(cuemu::poison_read_count(), 16u);
}

TEST_P(EmuWarp, LenientShuffleModePoisonsMissingLanes) {
  cuemu::set_strict_shuffle(false);
  std::vector<float> out(48);
  cuemu::launch(k_shfl_missing_lane, dim3(1), dim3(48), 0, out.data());
  EXPECT_EQ(out[0], 32.0f);
  EXPECT_TRUE(std::isnan(out[32]));  // warp 1 lane 0 summed poison (NaN)
  EXPECT_GT(cuemu::poison_read_count(), 0u);
}

EMU_INSTANTIATE(EmuWarp);
