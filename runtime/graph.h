// CUDA graphs: capture a sequence of device work once, replay it many times with one launch.
//
//   Graph g;
//   g.begin_capture(stream.get());
//   step(stream.get());            // kernels, device-to-device copies, memsets, blas/dnn calls
//   g.end_capture();               // instantiates
//   for (...) g.replay(stream.get());
//
// A replay runs the recorded operations with the arguments they had at capture: pointers and
// scalars are fixed, the device memory they point to is read at replay. Anything that varies
// from replay to replay must therefore live in device memory.
// Not allowed inside a capture (each throws gq::Error naming it and invalidates the capture):
// host-synchronous copies (copy_to_device, copy_to_host, DeviceBuffer::upload/download/to_host),
// device_malloc (so DeviceBuffer allocation), stream/event/device synchronisation, Event::record,
// a nested capture or a replay, and work on another stream than the capturing one. device_free
// inside a capture is deferred to the end of the capture, which then fails naming it.
//
// GPU build: cudaStreamBeginCapture (cudaStreamCaptureModeThreadLocal, runtime/capture.h says
// why), cudaStreamEndCapture, cudaGraphInstantiate, cudaGraphLaunch. Emulator build: the same
// calls record each operation (kernel + converted arguments + shape; copy/memset parameters;
// library calls) instead of running it, and a replay runs the list in order.
//
// Launch counters (runtime/launch_counters.h): captured work is not counted at capture (it does
// not run then); each replay counts what it runs, the same launches, copies and memsets as the
// direct sequence (counts()). So "launches per step" reads the same with and without a graph.
#pragma once

#include <cstddef>
#include <memory>

#include "runtime/launch_counters.h"
#include "runtime/stream.h"

namespace gq {

class Graph {
 public:
  Graph();
  // Destroying a capture that was not ended abandons it (CUDA's capture is ended and dropped).
  ~Graph();
  Graph(Graph&&) noexcept;
  Graph& operator=(Graph&&) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Starts recording the calling thread's work on `stream` (a gq::Stream, not the default stream:
  // CUDA cannot capture the legacy stream). Replaces what the graph held before.
  void begin_capture(stream_t stream);
  // Ends the capture and instantiates the graph. Throws if the capture was invalidated (it names
  // the first operation that did it); the graph is then empty and not ready.
  void end_capture();
  // Runs the graph on `stream` (asynchronously on the GPU; the emulator runs it now).
  // A graph captured with no work replays as nothing. Throws before end_capture.
  void replay(stream_t stream);

  // begin, f(), end. If f throws, the capture is abandoned and the exception propagates.
  template <class F>
  void capture(stream_t stream, F&& f) {
    begin_capture(stream);
    try {
      f();
    } catch (...) {
      abandon();
      throw;
    }
    end_capture();
  }

  bool capturing() const;
  bool ready() const;  // ended and instantiated: replay() may be called
  // Diagnostics. nodes: operations per replay (GPU: the graph's nodes, which include cuBLAS/cuDNN
  // kernels). bytes: memory the graph itself holds (GPU: device memory taken by instantiating and
  // uploading it, measured with cudaMemGetInfo, so approximate; emulator: the recorded arguments).
  std::size_t nodes() const;
  std::size_t bytes() const;
  // What one replay adds to launch_counters(): the launches, copies and memsets captured.
  LaunchCounters counts() const;

 private:
  struct Impl;
  void abandon() noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gq
