// Streams and events. A stream_t is CUDA's own stream handle type (cudaStream_t is
// `CUstream_st*`), so host headers need no CUDA include. The emulator runs every launch on the
// calling thread's worker pool, when it is issued or (CUEMU_STREAMS=deferred) when CUDA's stream
// ordering says it must have run (runtime/emulated_streams.h); its events are wall-clock
// timestamps taken when recorded.
#pragma once

struct CUstream_st;
struct CUevent_st;

namespace gq {

using stream_t = CUstream_st*;

// RAII stream. The default-constructed one is a real (non-blocking) stream on the GPU.
// ordered_with_default: a blocking stream (cudaStreamDefault), ordered both ways with the legacy
// default stream, so that work issued there (copies and kernels given no stream) waits for this
// stream's earlier work and this stream's later work waits for it: code that runs on the default
// stream keeps its meaning next to a step issued here (the Trainer's, which a graph captures).
class Stream {
 public:
  enum class Order { independent, ordered_with_default };
  explicit Stream(Order order = Order::independent);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  stream_t get() const { return stream_; }
  void synchronize() const;

 private:
  stream_t stream_ = nullptr;
};

// RAII event for timing and ordering.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(stream_t stream = nullptr);
  void synchronize() const;
  // Milliseconds between two recorded events (start.elapsed_ms_until(stop)).
  float elapsed_ms_until(const Event& stop) const;

 private:
  CUevent_st* event_ = nullptr;  // GPU build
  double host_ms_ = 0;           // emulator build: when it was recorded, and on which stream
  stream_t stream_ = nullptr;
};

// Waits for all outstanding device work.
void device_synchronize();

}  // namespace gq
