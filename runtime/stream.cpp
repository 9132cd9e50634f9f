#include "runtime/stream.h"

#include <chrono>

#include "runtime/capture.h"
#include "runtime/error.h"

#if GQ_WITH_CUDA
#include <cuda_runtime_api.h>

#include "runtime/cuda_check.h"
#else
#include "runtime/emulated_streams.h"
#endif

namespace gq {

namespace {
// Synchronisation waits for work a capture only records, so it cannot be inside one
// (runtime/graph.h); checked before the CUDA call, the same way in both builds.
constexpr const char* kSync =
    "synchronisation cannot be in a graph (the captured work has not run); synchronise after "
    "end_capture";
// A captured event record is a dependency inside the graph, not a time: timing must be outside.
constexpr const char* kEventRecord =
    "events cannot be recorded inside a graph (they would time the capture, not a replay); time "
    "replays from outside";
}  // namespace

#if GQ_WITH_CUDA

Stream::Stream(Order order) {
  GQ_CUDA_CHECK(cudaStreamCreateWithFlags(
      &stream_, order == Order::independent ? cudaStreamNonBlocking : cudaStreamDefault));
}
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}
void Stream::synchronize() const {
  detail::forbid_in_capture("Stream::synchronize", kSync);
  GQ_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Event::Event() {
  GQ_CUDA_CHECK(cudaEventCreate(&event_));
}
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}
void Event::record(stream_t stream) {
  detail::forbid_in_capture("Event::record", kEventRecord);
  GQ_CUDA_CHECK(cudaEventRecord(event_, stream));
}
void Event::synchronize() const {
  detail::forbid_in_capture("Event::synchronize", kSync);
  GQ_CUDA_CHECK(cudaEventSynchronize(event_));
}
float Event::elapsed_ms_until(const Event& stop) const {
  float ms = 0;
  GQ_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, stop.event_));
  return ms;
}

void device_synchronize() {
  detail::forbid_in_capture("device_synchronize", kSync);
  GQ_CUDA_CHECK(cudaDeviceSynchronize());
}

#else  // emulator: work runs when issued, or when CUDA's ordering forces it (emulated_streams.h)

// A stream is distinct (a graph capture knows which work is issued on the capturing stream and
// rejects work on others, as the GPU build does) and holds the work CUEMU_STREAMS=deferred keeps.
Stream::Stream(Order order)
    : stream_(detail::create_emulated_stream(order == Order::ordered_with_default)) {}
Stream::~Stream() {
  detail::destroy_emulated_stream(stream_);
}
void Stream::synchronize() const {
  detail::forbid_in_capture("Stream::synchronize", kSync);
  detail::run_pending(stream_);
}

Event::Event() = default;
Event::~Event() = default;
void Event::record(stream_t stream) {
  detail::forbid_in_capture("Event::record", kEventRecord);
  stream_ = stream;
  host_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
}
void Event::synchronize() const {
  detail::forbid_in_capture("Event::synchronize", kSync);
  detail::run_pending(stream_);
}
float Event::elapsed_ms_until(const Event& stop) const {
  return static_cast<float>(stop.host_ms_ - host_ms_);
}

void device_synchronize() {
  detail::forbid_in_capture("device_synchronize", kSync);
  detail::run_all_pending();
}

#endif

}  // namespace gq
