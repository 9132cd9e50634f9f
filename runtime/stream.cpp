#include "runtime/stream.h"

#include <chrono>

#include "runtime/error.h"

#if GQ_WITH_CUDA
#include <cuda_runtime_api.h>

#include "runtime/cuda_check.h"
#endif

namespace gq {

#if GQ_WITH_CUDA

Stream::Stream() {
  GQ_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}
void Stream::synchronize() const {
  GQ_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Event::Event() {
  GQ_CUDA_CHECK(cudaEventCreate(&event_));
}
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}
void Event::record(stream_t stream) {
  GQ_CUDA_CHECK(cudaEventRecord(event_, stream));
}
void Event::synchronize() const {
  GQ_CUDA_CHECK(cudaEventSynchronize(event_));
}
float Event::elapsed_ms_until(const Event& stop) const {
  float ms = 0;
  GQ_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, stop.event_));
  return ms;
}

void device_synchronize() {
  GQ_CUDA_CHECK(cudaDeviceSynchronize());
}

#else  // emulator: launches are synchronous, so a stream is the null handle

Stream::Stream() = default;
Stream::~Stream() = default;
void Stream::synchronize() const {}

Event::Event() = default;
Event::~Event() = default;
void Event::record(stream_t) {
  host_ms_ =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
}
void Event::synchronize() const {}
float Event::elapsed_ms_until(const Event& stop) const {
  return static_cast<float>(stop.host_ms_ - host_ms_);
}

void device_synchronize() {}

#endif

}  // namespace gq
