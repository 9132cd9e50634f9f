// The emulator's deferred streams (runtime/emulated_streams.h): with CUEMU_STREAMS=deferred, work
// runs only where CUDA's stream ordering says it has run, so a missing dependency between streams
// reads stale or poisoned data here, as it may on a GPU. Each test switches the mode on itself;
// the GPU build has no such mode (it is the real thing), so these run on the emulator only.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "runtime/emulated_streams.h"
#include "runtime/error.h"
#include "runtime/graph.h"
#include "runtime/launch_check.h"
#include "runtime/launch_counters.h"
#include "runtime/memory.h"
#include "runtime/portable.cuh"
#include "runtime/stream.h"

namespace gq {
namespace streams_test {  // named, so the exported symbol names the kernel
__global__ void write_one(float* out) {
  out[threadIdx.x] = 1.0f;
}
}  // namespace streams_test

namespace {

constexpr std::size_t kN = 1000;

// Switches the mode for one test and back.
template <bool kDeferred>
class StreamMode : public ::testing::Test {
 protected:
  void SetUp() override {
    was_deferred_ = detail::streams_deferred();
    detail::set_streams_deferred(kDeferred);
  }
  void TearDown() override { detail::set_streams_deferred(was_deferred_); }

 private:
  bool was_deferred_ = false;
};
using DeferredStreams = StreamMode<true>;
using ImmediateStreams = StreamMode<false>;

bool all_equal(const std::vector<float>& v, float value) {
  for (float x : v)
    if (!(x == value)) return false;
  return true;
}
bool all_nan(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isnan(x)) return false;
  return true;
}

// The bug class this mode exists for: a readback on the default stream does not wait for a
// non-blocking stream (cudaStreamNonBlocking), so it reads what was there before.
TEST_F(DeferredStreams, AReadbackOnTheDefaultStreamDoesNotWaitForANonBlockingStream) {
  DeviceBuffer<float> buf(kN);  // poisoned: NaN
  Stream stream;
  kernels::fill(buf.data(), kN, 3.0f, stream.get());
  EXPECT_TRUE(all_nan(buf.to_host())) << "the fill ran before anything ordered it";
  stream.synchronize();
  EXPECT_TRUE(all_equal(buf.to_host(), 3.0f));
}

TEST_F(DeferredStreams, ABlockingStreamIsOrderedWithTheDefaultStreamBothWays) {
  DeviceBuffer<float> buf(kN);
  Stream stream(Stream::Order::ordered_with_default);
  buf.upload(std::vector<float>(kN, 2.0f));               // default stream
  kernels::scale(buf.data(), kN, 3.0f, stream.get());     // waits for the upload
  EXPECT_TRUE(all_equal(buf.to_host(), 6.0f));            // waits for the scale
}

// The other direction: work on a non-blocking stream does not wait for an upload issued before it
// on the default stream. The copy's source is staged when issued, so the caller's vector may go.
TEST_F(DeferredStreams, ANonBlockingStreamDoesNotWaitForAnUploadOnTheDefaultStream) {
  DeviceBuffer<float> x(kN), y(kN);
  Stream stream;
  x.upload(std::vector<float>(kN, 5.0f));
  copy_on_device(y.data(), x.data(), x.bytes(), stream.get());
  stream.synchronize();  // runs the stream's copy, not the default stream's upload
  EXPECT_TRUE(all_nan(y.to_host())) << "the copy read the upload nothing ordered before it";
  EXPECT_TRUE(all_equal(x.to_host(), 5.0f));
}

TEST_F(DeferredStreams, EventsDeviceSynchronizeFreesAndDestructionRunTheQueues) {
  DeviceBuffer<float> a(kN), b(kN), c(kN);
  {
    Stream stream;
    Event done;
    kernels::fill(a.data(), kN, 1.0f, stream.get());
    done.record(stream.get());
    done.synchronize();
    EXPECT_TRUE(all_equal(a.to_host(), 1.0f));
    kernels::fill(b.data(), kN, 2.0f, stream.get());
    device_synchronize();
    EXPECT_TRUE(all_equal(b.to_host(), 2.0f));
    kernels::fill(c.data(), kN, 3.0f, stream.get());
    DeviceBuffer<float> freed(4);  // cudaFree waits for the device: its destructor runs the fill
  }
  EXPECT_TRUE(all_equal(c.to_host(), 3.0f));
  {
    Stream stream;
    kernels::fill(a.data(), kN, 4.0f, stream.get());
  }  // destroyed with work queued: the work still runs
  EXPECT_TRUE(all_equal(a.to_host(), 4.0f));
}

TEST_F(DeferredStreams, AGraphReplayRunsWithItsStream) {
  DeviceBuffer<float> buf(kN);
  Stream stream;
  Graph graph;
  graph.capture(stream.get(), [&] { kernels::fill(buf.data(), kN, 7.0f, stream.get()); });
  graph.replay(stream.get());
  EXPECT_TRUE(all_nan(buf.to_host()));
  stream.synchronize();
  EXPECT_TRUE(all_equal(buf.to_host(), 7.0f));
}

TEST_F(DeferredStreams, WorkIsCountedWhenIssuedAsOnAGpu) {
  DeviceBuffer<float> buf(kN);
  Stream stream;
  const LaunchCounters before = launch_counters();
  kernels::fill(buf.data(), kN, 1.0f, stream.get());
  memset_device(buf.data(), 0, buf.bytes(), stream.get());
  copy_on_device(buf.data(), buf.data() + 1, sizeof(float), stream.get());
  const LaunchCounters issued = launch_counters() - before;
  EXPECT_EQ(issued.launches, 1u);
  EXPECT_EQ(issued.memsets, 1u);
  EXPECT_EQ(issued.copies, 1u);
  stream.synchronize();
  EXPECT_EQ((launch_counters() - before).total(), 3u) << "running them counts nothing twice";
}

// A fault inside deferred work surfaces at the next synchronisation, as a GPU's does; a free,
// which cannot throw, leaves it for the synchronisation after it.
TEST_F(DeferredStreams, AnErrorInDeferredWorkIsThrownByTheNextSynchronisation) {
  Stream stream;
  ASSERT_TRUE(detail::defer(stream.get(), {}, [] { throw Error("planted fault"); }));
  try {
    stream.synchronize();
    ADD_FAILURE() << "expected the planted fault";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("planted fault"), std::string::npos) << e.what();
  }
  ASSERT_TRUE(detail::defer(stream.get(), {}, [] { throw Error("second fault"); }));
  { DeviceBuffer<float> freed(4); }
  EXPECT_THROW(device_synchronize(), Error);
  EXPECT_NO_THROW(device_synchronize()) << "an error is reported once";
}

// GQ_SYNC_EVERY_LAUNCH: the fault of deferred work is reported at its own launch, naming the
// kernel, instead of at the next synchronisation.
TEST_F(DeferredStreams, SyncEveryLaunchReportsAFaultAtItsLaunchNamingTheKernel) {
  DeviceBuffer<float> out(2048);
  Stream stream;
  launch(streams_test::write_one, dim3(1), dim3(2048), 0, stream.get(), out.data());  // too wide
  EXPECT_THROW(stream.synchronize(), std::exception) << "without the switch: at the sync";
  detail::set_sync_every_launch(true);
  try {
    launch(streams_test::write_one, dim3(1), dim3(2048), 0, stream.get(), out.data());
    ADD_FAILURE() << "expected the launch to report its fault";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("kernel gq::streams_test::write_one(float*) failed"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("invalid configuration"), std::string::npos) << msg;
    EXPECT_NE(msg.find("GQ_SYNC_EVERY_LAUNCH"), std::string::npos) << msg;
  }
  launch(streams_test::write_one, dim3(1), dim3(32), 0, stream.get(), out.data());
  detail::set_sync_every_launch(false);
  EXPECT_EQ(out.to_host()[31], 1.0f) << "a good launch passes the check and has run";
}

TEST_F(ImmediateStreams, WorkRunsWhenIssued) {
  DeviceBuffer<float> buf(kN);
  Stream stream;
  kernels::fill(buf.data(), kN, 3.0f, stream.get());
  EXPECT_TRUE(all_equal(buf.to_host(), 3.0f));
}

}  // namespace
}  // namespace gq
