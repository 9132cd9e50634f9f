#include "runtime/emulated_streams.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "runtime/error.h"

namespace gq::detail {
namespace {

struct Pending {
  std::function<void()> op;
  LaunchCounters counts;
};

struct EmulatedStream {
  bool blocking = false;
  std::deque<Pending> queue;
};

bool env_deferred() {
  const char* v = std::getenv("CUEMU_STREAMS");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "immediate") == 0) return false;
  if (std::strcmp(v, "deferred") == 0) return true;
  throw Error(std::string("CUEMU_STREAMS=") + v + " (expected immediate or deferred)");
}

// The emulated device's streams: process-wide, like the device they stand for.
struct Streams {
  std::atomic<bool> deferred{env_deferred()};
  std::mutex mutex;  // guards the queues and `live`; never held while an operation runs
  EmulatedStream legacy_default;
  std::vector<EmulatedStream*> live;  // in creation order
  std::atomic<std::uint64_t> pending_launches{0}, pending_copies{0}, pending_memsets{0};
  std::exception_ptr sticky;  // the first error of a deferred operation nobody has seen yet

  void add_pending(const LaunchCounters& c) {
    pending_launches += c.launches;
    pending_copies += c.copies;
    pending_memsets += c.memsets;
  }
  void remove_pending(const LaunchCounters& c) {
    pending_launches -= c.launches;
    pending_copies -= c.copies;
    pending_memsets -= c.memsets;
  }
};

Streams& streams() {
  static Streams s;
  return s;
}

// Set while this thread runs a queue: work issued by a deferred operation is part of it.
thread_local bool t_running_queue = false;

EmulatedStream& of(stream_t stream) {
  return stream ? *reinterpret_cast<EmulatedStream*>(stream) : streams().legacy_default;
}

// Runs `s`'s queue to its end, each operation outside the lock. The first error is kept (sticky)
// and the rest of the queue still runs, as a GPU goes on with the stream's later work.
void drain(EmulatedStream& s) {
  Streams& all = streams();
  for (;;) {
    Pending next;
    {
      std::lock_guard lock(all.mutex);
      if (s.queue.empty()) return;
      next = std::move(s.queue.front());
      s.queue.pop_front();
    }
    t_running_queue = true;
    try {
      next.op();
    } catch (...) {
      std::lock_guard lock(all.mutex);
      if (!all.sticky) all.sticky = std::current_exception();
    }
    t_running_queue = false;
    all.remove_pending(next.counts);
  }
}

void drain_blocking() {
  std::vector<EmulatedStream*> blocking;
  {
    std::lock_guard lock(streams().mutex);
    for (EmulatedStream* s : streams().live)
      if (s->blocking) blocking.push_back(s);
  }
  for (EmulatedStream* s : blocking) drain(*s);
}

void rethrow_sticky() {
  std::exception_ptr error;
  {
    std::lock_guard lock(streams().mutex);
    error = std::exchange(streams().sticky, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

bool active() {
  return streams().deferred.load(std::memory_order_relaxed) && !t_running_queue;
}

}  // namespace

bool streams_deferred() {
  return streams().deferred.load(std::memory_order_relaxed);
}

void set_streams_deferred(bool on) {
  if (!on) run_all_pending();
  streams().deferred = on;
}

stream_t create_emulated_stream(bool blocking) {
  auto* s = new EmulatedStream{blocking, {}};
  std::lock_guard lock(streams().mutex);
  streams().live.push_back(s);
  return reinterpret_cast<stream_t>(s);
}

void destroy_emulated_stream(stream_t stream) noexcept {
  auto* s = reinterpret_cast<EmulatedStream*>(stream);
  drain(*s);  // cudaStreamDestroy lets the stream's work finish; errors stay sticky
  std::lock_guard lock(streams().mutex);
  auto& live = streams().live;
  live.erase(std::remove(live.begin(), live.end(), s), live.end());
  delete s;
}

bool defer(stream_t stream, const LaunchCounters& counts, std::function<void()> op) {
  if (!active()) [[likely]]
    return false;
  EmulatedStream& s = of(stream);
  if (stream == nullptr)
    drain_blocking();  // the legacy default stream waits for the blocking streams
  else if (s.blocking)
    drain(streams().legacy_default);  // and they wait for it
  std::lock_guard lock(streams().mutex);
  s.queue.push_back({std::move(op), counts});
  streams().add_pending(counts);
  return true;
}

void run_pending(stream_t stream) {
  if (!active()) return;
  if (stream == nullptr) drain_blocking();
  drain(of(stream));
  rethrow_sticky();
}

void run_all_pending() {
  if (t_running_queue) return;
  run_all_pending_noexcept();
  rethrow_sticky();
}

void run_all_pending_noexcept() noexcept {
  // Not deferred: the queues are empty (switching the mode off ran them), so a free costs nothing.
  if (!active()) return;
  std::vector<EmulatedStream*> all;
  {
    std::lock_guard lock(streams().mutex);
    all = streams().live;
  }
  drain(streams().legacy_default);
  for (EmulatedStream* s : all) drain(*s);
}

LaunchCounters pending_counts() {
  const Streams& s = streams();
  return {s.pending_launches.load(), s.pending_copies.load(), s.pending_memsets.load()};
}

}  // namespace gq::detail
