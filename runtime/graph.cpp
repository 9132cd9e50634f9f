#include "runtime/graph.h"

#include <string>
#include <utility>
#include <vector>

#include "runtime/capture.h"
#include "runtime/error.h"
#include "runtime/memory.h"

#if GQ_WITH_CUDA
#include <cuda_runtime_api.h>

#include "runtime/cuda_check.h"
#else
#include "runtime/emulated_streams.h"
#endif

namespace gq {
namespace detail {

// One capture: in progress while t_capture points at it, then what a replay runs.
struct Capture {
  stream_t stream = nullptr;
  std::string invalid;  // the first operation that invalidated the capture; empty while valid
  LaunchCounters counts;
  std::vector<void*> deferred_frees;
  std::vector<std::function<void()>> ops;  // emulator: the recorded operations, in issue order
  std::size_t bytes = 0;                   // emulator: what `ops` hold
};

void fail_in_capture(const char* what, const char* why) {
  const std::string msg = format_message("{} inside a CUDA graph capture: {}", what, why);
  if (t_capture->invalid.empty()) t_capture->invalid = msg;
  throw Error(msg);
}

void note_captured(stream_t stream, OpKind kind, const char* what) {
  Capture& c = *t_capture;
  if (stream != c.stream) {
    fail_in_capture(what,
                    "it is issued on another stream than the capturing one, so it would run once "
                    "now and never at replay; issue it on the capturing stream");
  }
  switch (kind) {
    case OpKind::launch:
      ++c.counts.launches;
      break;
    case OpKind::copy:
      ++c.counts.copies;
      break;
    case OpKind::memset:
      ++c.counts.memsets;
      break;
    case OpKind::library:
      break;  // not counted, as outside a graph (launch_counters.h)
  }
}

void record(stream_t stream, OpKind kind, const char* what, std::function<void()> op,
            std::size_t bytes) {
  note_captured(stream, kind, what);
  t_capture->ops.push_back(std::move(op));
  t_capture->bytes += bytes + sizeof(std::function<void()>);
}

void defer_free(void* ptr) noexcept {
  try {
    t_capture->deferred_frees.push_back(ptr);
  } catch (...) {
    // No memory to note it: leaking one buffer beats freeing memory the capture may use.
  }
}

}  // namespace detail

struct Graph::Impl {
  detail::Capture cap;
  bool capturing = false, ready = false;
  std::size_t nodes = 0, bytes = 0;
#if GQ_WITH_CUDA
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
#endif

  // Drops the instantiated graph and the recording.
  void release() noexcept {
#if GQ_WITH_CUDA
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    exec = nullptr;
    graph = nullptr;
#endif
    cap = detail::Capture{};
    ready = false;
    nodes = bytes = 0;
  }

  // The thread stops capturing; the frees deferred during the capture happen now.
  // Returns how many there were.
  std::size_t stop_capturing() noexcept {
    if (detail::t_capture == &cap) detail::t_capture = nullptr;
    capturing = false;
    const std::size_t frees = cap.deferred_frees.size();
    for (void* p : cap.deferred_frees) device_free(p);
    cap.deferred_frees.clear();
    return frees;
  }
};

Graph::Graph() : impl_(std::make_unique<Impl>()) {}

Graph::~Graph() {
  if (!impl_) return;  // moved from
  abandon();
  impl_->release();
}

Graph::Graph(Graph&&) noexcept = default;

Graph& Graph::operator=(Graph&& o) noexcept {
  if (this != &o) {
    if (impl_) {
      abandon();
      impl_->release();
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}

void Graph::begin_capture(stream_t stream) {
  detail::forbid_in_capture("Graph::begin_capture (a nested capture)",
                            "one capture at a time per thread; end the running one first");
  GQ_CHECK(stream != nullptr,
           "Graph::begin_capture: the default stream cannot be captured; capture a gq::Stream");
  if (!impl_) impl_ = std::make_unique<Impl>();
  Impl& m = *impl_;
  m.release();
  m.cap.stream = stream;
#if GQ_WITH_CUDA
  // ThreadLocal: CUDA forbids unsafe calls on this thread only, the scope of our own checks
  // (runtime/capture.h). Global would also fail other threads' legal cudaMalloc during the
  // capture; Relaxed would let an unsafe call inside the step pass unnoticed.
  GQ_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
#endif
  m.capturing = true;
  detail::t_capture = &m.cap;
}

void Graph::end_capture() {
  GQ_CHECK(impl_ && impl_->capturing && detail::t_capture == &impl_->cap,
           "Graph::end_capture: this thread has not begun a capture on this graph");
  Impl& m = *impl_;
#if GQ_WITH_CUDA
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(m.cap.stream, &graph);
#endif
  const std::size_t frees = m.stop_capturing();
  std::string invalid = m.cap.invalid;
  if (invalid.empty() && frees > 0) {
    invalid = detail::format_message(
        "device_free inside a CUDA graph capture ({} buffer(s), freed after the capture): a "
        "buffer the graph uses must outlive it; free it after end_capture",
        frees);
  }
  if (!invalid.empty()) {
#if GQ_WITH_CUDA
    if (graph) cudaGraphDestroy(graph);
#endif
    m.release();
    GQ_FAIL("Graph::end_capture: the capture was invalidated by {}", invalid);
  }
#if GQ_WITH_CUDA
  if (ended != cudaSuccess) m.release();
  GQ_CUDA_CHECK(ended);
  m.graph = graph;
  GQ_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &m.nodes));
  if (m.nodes > 0) {  // an empty graph replays as nothing; no executable needed
    std::size_t free_before = 0, free_after = 0, total = 0;
    GQ_CUDA_CHECK(cudaMemGetInfo(&free_before, &total));
    GQ_CUDA_CHECK(cudaGraphInstantiate(&m.exec, graph, 0));
    // Upload now, so the first replay of a training step is not slower than the others.
    GQ_CUDA_CHECK(cudaGraphUpload(m.exec, m.cap.stream));
    GQ_CUDA_CHECK(cudaStreamSynchronize(m.cap.stream));
    GQ_CUDA_CHECK(cudaMemGetInfo(&free_after, &total));
    m.bytes = free_before > free_after ? free_before - free_after : 0;
  }
#else
  m.nodes = m.cap.ops.size();
  m.bytes = m.cap.bytes;
#endif
  m.ready = true;
}

void Graph::replay(stream_t stream) {
  detail::forbid_in_capture("Graph::replay (a graph inside a capture)",
                            "nested graphs are not supported; replay outside the capture");
  GQ_CHECK(impl_ && impl_->ready,
           "Graph::replay: nothing to replay; capture first (begin_capture ... end_capture)");
  Impl& m = *impl_;
#if GQ_WITH_CUDA
  if (m.exec) {
    GQ_CUDA_CHECK(cudaGraphLaunch(m.exec, stream));
    detail::count_replay(m.cap.counts);
  }
#else
  // The recorded operations run now (or when the stream runs: emulated_streams.h), each counted
  // as it runs.
  if (detail::streams_deferred() &&
      detail::defer(stream, m.cap.counts, [ops = m.cap.ops] {
        for (const auto& op : ops) op();
      }))
    return;
  for (const auto& op : m.cap.ops) op();
#endif
}

void Graph::abandon() noexcept {
  if (!impl_ || !impl_->capturing) return;
  Impl& m = *impl_;
#if GQ_WITH_CUDA
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(m.cap.stream, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  (void)cudaGetLastError();
#endif
  m.stop_capturing();
  m.release();
}

bool Graph::capturing() const {
  return impl_ && impl_->capturing;
}
bool Graph::ready() const {
  return impl_ && impl_->ready;
}
std::size_t Graph::nodes() const {
  return impl_ ? impl_->nodes : 0;
}
std::size_t Graph::bytes() const {
  return impl_ ? impl_->bytes : 0;
}
LaunchCounters Graph::counts() const {
  return impl_ ? impl_->cap.counts : LaunchCounters{};
}

}  // namespace gq
