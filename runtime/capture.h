// The calling thread's CUDA graph capture, as the launch, copy, memset, allocation and
// synchronisation paths see it (runtime/graph.h owns the capture; this header is what those paths
// need, and what runtime/portable.cuh includes).
//
// Why one pointer per thread: a capture is begun and ended by one thread, and the GPU build
// captures in cudaStreamCaptureModeThreadLocal, where CUDA forbids unsafe calls (synchronisation,
// allocation) on the capturing thread only. Our own checks have the same scope, so other threads
// (tests, the emulator's workers, host helpers) keep allocating and copying freely. The pointer is
// constant-initialised, so reading it is one TLS load; a path that is not capturing pays one
// predictable branch.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>

#include "runtime/emulated_streams.h"  // declarations; defined (and called) in the emulator build
#include "runtime/stream.h"

namespace gq::detail {

struct Capture;  // runtime/graph.cpp

inline thread_local Capture* t_capture = nullptr;

enum class OpKind { launch, copy, memset, library };

// Called only while this thread captures: `what` cannot be inside a graph (a host-synchronous
// copy, an allocation, a synchronisation, a nested capture). Invalidates the capture (end_capture
// then fails too, as CUDA's does) and throws gq::Error naming `what`.
[[noreturn]] void fail_in_capture(const char* what, const char* why);

inline void forbid_in_capture(const char* what, const char* why) {
  if (t_capture != nullptr) [[unlikely]]
    fail_in_capture(what, why);
}

// Work issued while this thread captures. Checks that it goes to the capturing stream (work on
// another stream would run once now and never at replay: an error naming `what`) and counts it as
// one of the graph's operations. GPU build: the caller then issues it and CUDA records it.
void note_captured(stream_t stream, OpKind kind, const char* what);

// Emulator build: note_captured, then keep `op` to run at every replay instead of now.
// `bytes`: what the recording holds (arguments), for Graph::bytes().
void record(stream_t stream, OpKind kind, const char* what, std::function<void()> op,
            std::size_t bytes);

// Emulator library calls (runtime/blas_cpu.cpp, dnn_cpu.cpp): while this thread captures, keep
// `call` (the same call again, made at replay) and return true; with CUEMU_STREAMS=deferred, queue
// it on its stream (runtime/emulated_streams.h) and return true; otherwise return false and let the
// caller run it now.
template <class F>
bool record_library_call(stream_t stream, const char* what, F&& call) {
  if (t_capture != nullptr) [[unlikely]] {
    record(stream, OpKind::library, what, std::function<void()>(std::forward<F>(call)), sizeof(F));
    return true;
  }
#if !GQ_WITH_CUDA
  return streams_deferred() && defer(stream, {}, std::function<void()>(std::forward<F>(call)));
#else
  return false;
#endif
}

// device_free while this thread captures. It cannot throw (it runs in destructors, also while an
// exception from inside the capture unwinds), so the free is deferred to the end of the capture,
// and end_capture reports it.
void defer_free(void* ptr) noexcept;

}  // namespace gq::detail
