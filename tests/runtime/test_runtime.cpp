// The runtime core: device properties, memory, copies, streams/events, Philox RNG, tensors.
#include <gtest/gtest.h>

#include <cstring>
#include <chrono>
#include <set>
#include <thread>

#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/fast_divmod.h"
#include "runtime/memory.h"
#include "runtime/nvtx.h"
#include "runtime/rng.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"
#include "tests/test_util.h"

namespace gq {
namespace {

TEST(Device, ReportsAtLeastOneMultiprocessorAndMemory) {
  const DeviceInfo& info = device_info();
  EXPECT_GE(info.sm_count, 1);
  EXPECT_GT(info.total_memory, 0u);
  EXPECT_FALSE(info.name.empty());
  EXPECT_EQ(info.is_emulator, !built_for_gpu());
  std::size_t free_b = 0, total_b = 0;
  device_memory(&free_b, &total_b);
  EXPECT_LE(free_b, total_b);
}

TEST(Device, SelectingAMissingDeviceNamesTheValidRange) {
  try {
    select_device(device_count() + 3);
    FAIL() << "expected gq::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(Memory, RoundTripAndDeviceCopyAndMemset) {
  const std::vector<float> host = test::random_vector(1003, 1);
  DeviceBuffer<float> a{std::span<const float>(host)};
  DeviceBuffer<float> b(host.size());
  copy_on_device(b.data(), a.data(), a.bytes());
  EXPECT_EQ(b.to_host(), host);
  b.fill_bytes(0);
  for (float v : b.to_host()) ASSERT_EQ(v, 0.0f);
}

TEST(Memory, BufferMovesOwnership) {
  DeviceBuffer<int> a(10);
  int* p = a.data();
  DeviceBuffer<int> b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.size(), 10u);
}

TEST(Memory, EmulatorPoisonsFreshAllocations) {
  if (built_for_gpu()) GTEST_SKIP() << "poisoning is an emulator feature";
  DeviceBuffer<float> a(17);
  for (float v : a.to_host()) EXPECT_TRUE(std::isnan(v));
}

TEST(Memory, OutOfMemoryIsAClearError) {
  if (built_for_gpu()) {
    // Far beyond any GPU: must be reported, not crash.
    EXPECT_THROW(DeviceBuffer<float>(std::size_t{1} << 45), OutOfMemory);
    return;
  }
  set_emulated_memory_limit(std::size_t{64} << 20);
  try {
    DeviceBuffer<float> big(std::size_t{32} << 20);  // 128 MiB
    set_emulated_memory_limit(0);
    FAIL() << "expected OutOfMemory";
  } catch (const OutOfMemory& e) {
    set_emulated_memory_limit(0);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("requested 128.0 MiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--batch-size"), std::string::npos) << msg;
  }
  DeviceBuffer<float> fine(1024);  // the failed request left no accounting behind
  EXPECT_EQ(fine.size(), 1024u);
}

TEST(StreamEvent, ElapsedTimeIsNonNegative) {
  Stream s;
  Event start, stop;
  start.record(s.get());
  DeviceBuffer<float> a(1 << 16);
  a.fill_bytes(0, s.get());
  stop.record(s.get());
  stop.synchronize();
  EXPECT_GE(start.elapsed_ms_until(stop), 0.0f);
}

// Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Kat {
    Philox4 ctr;
    std::uint32_t k0, k1;
    Philox4 want;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const Philox4 got = philox4x32_10(k.ctr, k.k0, k.k1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(got.v[i], k.want.v[i]) << "word " << i;
  }
}

TEST(Philox, UniformAndNormalHaveTheRightMoments) {
  HostRng rng(42);
  double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i += 2) {
    const float u = rng.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
    sum2 += u * u;
    float z0, z1;
    normal2(rng.next_u32(), rng.next_u32(), z0, z1);
    nsum += z0 + z1;
    nsum2 += z0 * z0 + z1 * z1;
  }
  EXPECT_NEAR(sum / (n / 2), 0.5, 0.005);
  EXPECT_NEAR(sum2 / (n / 2) - 0.25, 1.0 / 12, 0.005);
  EXPECT_NEAR(nsum / n, 0.0, 0.01);
  EXPECT_NEAR(nsum2 / n, 1.0, 0.02);
}

TEST(Philox, BelowIsUniformAndInRange) {
  HostRng rng(7);
  std::vector<int> counts(10);
  for (int i = 0; i < 100000; ++i) {
    const auto v = rng.below(10);
    ASSERT_LT(v, 10u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(Philox, HostRngStateRestoresTheExactSequence) {
  HostRng a(123, 5);
  for (int i = 0; i < 7; ++i) a.next_u32();  // mid-block
  const HostRng::State s = a.state();
  std::vector<std::uint32_t> want;
  for (int i = 0; i < 9; ++i) want.push_back(a.next_u32());
  HostRng b(0, 0);
  b.restore(s);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(b.next_u32(), want[i]) << i;
}

TEST(Philox, StreamsAndSeedsAreIndependent) {
  std::set<std::uint32_t> seen;
  for (std::uint64_t seed : {1, 2})
    for (std::uint64_t stream : {0, 1}) seen.insert(philox_random4(seed, stream, 0).v[0]);
  EXPECT_EQ(seen.size(), 4u);
}

TEST(Tensor, ShapeNumelAndRoundTrip) {
  Tensor t(Shape{2, 3, 4, 5});
  EXPECT_EQ(t.numel(), 120);
  EXPECT_EQ(t.shape().str(), "[2, 3, 4, 5]");
  const auto host = test::random_vector(120, 3);
  t.upload(host);
  EXPECT_EQ(t.to_host(), host);
  EXPECT_THROW(t.upload(std::vector<float>(7)), Error);
  EXPECT_THROW((Shape{1, 2, 3, 4, 5}), Error);
}

}  // namespace
}  // namespace gq

namespace gq {
namespace {

TEST(FastDivmod, MatchesHardwareDivisionEverywhere) {
  HostRng rng(2024);
  std::vector<std::uint32_t> divisors = {
      1,    2,    3,     5,     7,           10,          28,          32,         49,
      1000, 1024, 65535, 65536, 0x7fffffffu, 0x80000000u, 0x80000001u, 0xffffffffu};
  for (int i = 0; i < 200; ++i) divisors.push_back(1 + rng.next_u32() % 100000);
  for (int i = 0; i < 50; ++i) divisors.push_back(std::max(1u, rng.next_u32()));
  for (std::uint32_t d : divisors) {
    const FastDivmod fd(d);
    std::vector<std::uint32_t> ns = {0,           1,           d - 1,       d,     d + 1,
                                     0xffffffffu, 0xfffffffeu, 0x80000000u, 2 * d, 2 * d - 1};
    for (int i = 0; i < 2000; ++i) ns.push_back(rng.next_u32());
    for (std::uint32_t n : ns) {
      std::uint32_t q, r;
      fd.divmod(n, q, r);
      ASSERT_EQ(q, n / d) << n << " / " << d;
      ASSERT_EQ(r, n % d) << n << " % " << d;
    }
  }
}

}  // namespace
// The emulator's range timing (runtime/nvtx.h): nested ranges by path, calls counted, only while
// on; the GPU build leaves timing to Nsight and keeps the table empty.
TEST(RangeTiming, TimesNestedRangesByPathWhileOn) {
  using namespace std::chrono_literals;
  clear_range_times();
  { NvtxRange untimed("before"); }
  set_range_timing(true);
  for (int i = 0; i < 2; ++i) {
    NvtxRange step("step");
    {
      NvtxRange phase("phase");
      std::this_thread::sleep_for(2ms);
    }
    { NvtxRange phase("phase"); }
  }
  set_range_timing(false);
  { NvtxRange after("after"); }
  const std::vector<RangeTime> t = range_times();
  if (built_for_gpu()) {
    EXPECT_TRUE(t.empty());
    return;
  }
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].path, "step");
  EXPECT_EQ(t[0].calls, 2);
  EXPECT_EQ(t[1].path, "step/phase");
  EXPECT_EQ(t[1].calls, 4);
  EXPECT_GE(t[1].seconds, 4e-3);
  EXPECT_GE(t[0].seconds, t[1].seconds);
  clear_range_times();
  EXPECT_TRUE(range_times().empty());
}

}  // namespace gq
