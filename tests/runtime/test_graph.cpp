// CUDA graphs (runtime/graph.h): a sequence of real kernels, copies, memsets and a gemm captured
// once and replayed is bit-identical to issuing it directly; what may not be in a capture fails
// naming it; counters count what a replay runs. The emulator records and replays; the GPU build
// runs the same tests through CUDA's stream capture.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "runtime/blas.h"
#include "runtime/error.h"
#include "runtime/graph.h"
#include "runtime/launch_counters.h"
#include "runtime/memory.h"
#include "runtime/stream.h"
#include "tests/test_util.h"

namespace gq {
namespace {

constexpr std::size_t kN = 4097;  // not a multiple of any block size
// The tests upload and read back on the default stream and issue the work on `stream`: a blocking
// stream keeps them in order (a non-blocking one races them on a GPU; CUEMU_STREAMS=deferred
// shows it here).
constexpr Stream::Order kOrdered = Stream::Order::ordered_with_default;
constexpr int kM = 8, kK = 16, kCols = 4;

// A small optimiser step whose only per-step input, x, lives in device memory.
struct StepState {
  DeviceBuffer<float> x{kN}, grad{kN}, param{kN}, momentum{kN}, norm{1}, sum{1}, b{kK * kCols},
      c{kM * kCols};
  DeviceBuffer<unsigned char> scratch{kernels::reduce_scratch_bytes()};

  StepState() {
    // Outputs poisoned, so a result nobody wrote cannot match.
    for (auto* buf : {&x, &grad, &norm, &sum, &c}) buf->fill_bytes(0xFF);
    param.upload(test::random_vector(kN, 11));
    momentum.fill_bytes(0);
    b.upload(test::random_vector(b.size(), 12));
  }

  void step(stream_t s) {
    copy_on_device(grad.data(), x.data(), x.bytes(), s);
    kernels::scale(grad.data(), kN, 0.5f, s);
    kernels::axpy(kN, 0.25f, param.data(), grad.data(), s);
    kernels::clip_grad_norm(grad.data(), kN, 1.0f, norm.data(), scratch.data(), s);
    kernels::sgd_step(param.data(), grad.data(), momentum.data(), kN, 0.1f, 0.9f, true, 1e-4f, s);
    kernels::reduce_sum(param.data(), kN, sum.data(), scratch.data(), s);
    blas::gemm(blas::Op::N, blas::Op::N, kM, kCols, kK, 1.0f, param.data(), kK, b.data(), kCols,
               0.0f, c.data(), kCols, s);
    memset_device(grad.data(), 0, grad.bytes(), s);
  }

  // Everything the step writes, as bytes.
  std::vector<float> snapshot() const {
    std::vector<float> all;
    for (const auto* buf : {&grad, &param, &momentum, &norm, &sum, &c}) {
      const std::vector<float> h = buf->to_host();
      all.insert(all.end(), h.begin(), h.end());
    }
    return all;
  }
};

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> input_for(int step) {
  return test::random_vector(kN, 100 + static_cast<std::uint64_t>(step), -2.0f, 2.0f);
}

// Runs `f`, expects gq::Error whose message contains `name`.
template <class F>
void expect_error_naming(F&& f, const std::string& name) {
  try {
    f();
    ADD_FAILURE() << "expected gq::Error naming " << name;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

TEST(Graph, ReplaysAreBitIdenticalToDirectStepsAndReadInputsAtReplay) {
  constexpr int kSteps = 4;
  Stream stream(kOrdered);
  StepState direct, graphed;

  std::vector<std::vector<float>> expected;
  for (int i = 0; i < kSteps; ++i) {
    direct.x.upload(input_for(i));
    direct.step(stream.get());
    stream.synchronize();
    expected.push_back(direct.snapshot());
  }

  Graph graph;
  const std::vector<float> before = graphed.snapshot();
  graph.capture(stream.get(), [&] { graphed.step(stream.get()); });
  ASSERT_TRUE(graph.ready());
  EXPECT_FALSE(graph.capturing());
  EXPECT_GT(graph.nodes(), 0u);
  // Capturing records; nothing ran (the poisoned outputs are untouched).
  EXPECT_TRUE(bit_equal(graphed.snapshot(), before));

  for (int i = 0; i < kSteps; ++i) {
    graphed.x.upload(input_for(i));  // new device contents: the replay must read them
    graph.replay(stream.get());
    stream.synchronize();
    EXPECT_TRUE(bit_equal(graphed.snapshot(), expected[i])) << "replay " << i;
  }
}

TEST(Graph, AReplayCountsWhatItRuns) {
  Stream stream(kOrdered);
  StepState direct, graphed;
  direct.x.upload(input_for(0));
  graphed.x.upload(input_for(0));

  const LaunchCounters c0 = launch_counters();
  direct.step(stream.get());
  const LaunchCounters c1 = launch_counters();
  const LaunchCounters per_step = c1 - c0;
  EXPECT_GT(per_step.launches, 0u);
  EXPECT_EQ(per_step.copies, 1u);
  EXPECT_EQ(per_step.memsets, 1u);

  Graph graph;
  graph.capture(stream.get(), [&] { graphed.step(stream.get()); });
  const LaunchCounters c2 = launch_counters();
  EXPECT_EQ((c2 - c1).total(), 0u) << "a capture runs nothing, so counts nothing";
  EXPECT_EQ(graph.counts().launches, per_step.launches);
  EXPECT_EQ(graph.counts().copies, per_step.copies);
  EXPECT_EQ(graph.counts().memsets, per_step.memsets);

  graph.replay(stream.get());
  graph.replay(stream.get());
  const LaunchCounters replays = launch_counters() - c2;
  EXPECT_EQ(replays.launches, 2 * per_step.launches);
  EXPECT_EQ(replays.copies, 2 * per_step.copies);
  EXPECT_EQ(replays.memsets, 2 * per_step.memsets);
  stream.synchronize();
}

TEST(Graph, HostCopiesAllocationsAndSyncsInsideACaptureFailNamingThem) {
  Stream stream(kOrdered);
  DeviceBuffer<float> buf(16);
  std::vector<float> host(16, 1.0f);
  const auto inside = [&](auto&& op, const std::string& name) {
    Graph graph;
    graph.begin_capture(stream.get());
    expect_error_naming(op, name);
    // The capture is invalidated: ending it fails too, naming the same operation.
    expect_error_naming([&] { graph.end_capture(); }, name);
    EXPECT_FALSE(graph.ready());
    EXPECT_FALSE(graph.capturing());
  };
  inside([&] { buf.to_host(); }, "copy_to_host");
  inside([&] { buf.upload(host); }, "copy_to_device");
  inside([&] { copy_to_host(host.data(), buf.data(), buf.bytes(), stream.get()); }, "copy_to_host");
  inside([&] { DeviceBuffer<float> more(8); }, "device_malloc");
  inside([&] { stream.synchronize(); }, "Stream::synchronize");
  inside([&] { device_synchronize(); }, "device_synchronize");
  inside(
      [&] {
        Event e;
        e.record(stream.get());
      },
      "Event::record");
  inside(
      [&] {
        Graph nested;
        nested.begin_capture(stream.get());
      },
      "nested capture");
  inside(
      [&] {
        Graph other;
        other.replay(stream.get());
      },
      "Graph::replay");
  Stream other;
  inside([&] { kernels::fill(buf.data(), buf.size(), 1.0f, other.get()); }, "another stream");
  inside([&] { memset_device(buf.data(), 0, buf.bytes(), other.get()); }, "memset_device");
  // Everything works again after the failed captures.
  kernels::fill(buf.data(), buf.size(), 3.0f, stream.get());
  EXPECT_EQ(buf.to_host()[5], 3.0f);
}

TEST(Graph, AFreeInsideACaptureIsDeferredAndReported) {
  Stream stream(kOrdered);
  auto doomed = std::make_unique<DeviceBuffer<float>>(32);
  Graph graph;
  graph.begin_capture(stream.get());
  doomed.reset();  // cannot throw from a destructor: deferred, reported at the end
  expect_error_naming([&] { graph.end_capture(); }, "device_free");
  EXPECT_FALSE(graph.ready());
}

TEST(Graph, CaptureOnTheDefaultStreamIsRefused) {
  Graph graph;
  expect_error_naming([&] { graph.begin_capture(nullptr); }, "default stream");
  EXPECT_FALSE(graph.capturing());
}

TEST(Graph, DestroyingAnUnendedCaptureAbandonsIt) {
  Stream stream(kOrdered);
  DeviceBuffer<float> buf = test::poisoned(64);
  {
    Graph graph;
    graph.begin_capture(stream.get());
    kernels::fill(buf.data(), buf.size(), 7.0f, stream.get());
  }  // abandoned: the fill was recorded, never run
  for (float v : buf.to_host()) ASSERT_TRUE(std::isnan(v));
  // The thread is no longer capturing: work runs directly and a new capture can begin.
  kernels::fill(buf.data(), buf.size(), 2.0f, stream.get());
  EXPECT_EQ(buf.to_host()[63], 2.0f);
  Graph again;
  again.capture(stream.get(), [&] { kernels::fill(buf.data(), buf.size(), 5.0f, stream.get()); });
  again.replay(stream.get());
  EXPECT_EQ(buf.to_host()[0], 5.0f);
}

TEST(Graph, AnExceptionInsideCaptureAbandonsIt) {
  Stream stream(kOrdered);
  DeviceBuffer<float> buf = test::poisoned(8);
  Graph graph;
  EXPECT_THROW(graph.capture(stream.get(), [&] { throw std::runtime_error("step failed"); }),
               std::runtime_error);
  EXPECT_FALSE(graph.capturing());
  EXPECT_FALSE(graph.ready());
  kernels::fill(buf.data(), buf.size(), 1.0f, stream.get());  // runs directly again
  EXPECT_EQ(buf.to_host()[7], 1.0f);
}

TEST(Graph, AnEmptyGraphReplaysAsNothing) {
  Stream stream(kOrdered);
  Graph graph;
  expect_error_naming([&] { graph.replay(stream.get()); }, "nothing to replay");  // not captured
  graph.capture(stream.get(), [] {});
  ASSERT_TRUE(graph.ready());
  EXPECT_EQ(graph.nodes(), 0u);
  EXPECT_EQ(graph.counts().total(), 0u);
  const LaunchCounters before = launch_counters();
  graph.replay(stream.get());
  graph.replay(stream.get());
  stream.synchronize();
  EXPECT_EQ((launch_counters() - before).total(), 0u);
}

TEST(Graph, MovingAGraphKeepsItsCaptureAndItsRecording) {
  Stream stream(kOrdered);
  DeviceBuffer<float> buf = test::poisoned(16);
  Graph first;
  first.begin_capture(stream.get());
  kernels::fill(buf.data(), buf.size(), 4.0f, stream.get());
  Graph moved(std::move(first));
  EXPECT_TRUE(moved.capturing());
  moved.end_capture();
  Graph target;
  target = std::move(moved);
  target.replay(stream.get());
  EXPECT_EQ(buf.to_host()[15], 4.0f);
}

}  // namespace
}  // namespace gq
