// Emulator build: the order in which work on streams runs, as loose as a GPU allows it.
//
// By default the emulator runs every operation when it is issued, so any stream's work is ordered
// after all work issued before it: a missing dependency between streams (a readback on the default
// stream of a buffer that a non-blocking stream writes, an upload that a replay on another stream
// reads) passes here and races on a GPU. CUEMU_STREAMS=deferred (or set_streams_deferred) keeps
// each stream's operations in a queue and runs them only when CUDA's rules say they have run:
//   - a stream's synchronisation (Stream::synchronize, Event::synchronize of an event recorded on
//     it, a copy to the host issued on it) runs its queue;
//   - device_synchronize and device_free (cudaFree waits for the device) run every queue; a
//     stream's destruction runs its own;
//   - work issued on the legacy default stream first runs the queues of the blocking streams
//     (Stream::Order::ordered_with_default), and work issued on a blocking stream first runs the
//     default stream's queue: the implicit orderings of CUDA's legacy default stream.
// Nothing else orders a non-blocking stream with the default stream, so their queues run in the
// order the synchronisation asks for, and a dependency the code forgot shows up as a stale or
// poisoned read in a test. Copies from the host are staged when issued (cudaMemcpyAsync from
// pageable memory does the same), so the caller may reuse its buffer at once.
//
// An error inside a deferred operation is kept and thrown by the next synchronisation (a "sticky"
// error, as a GPU reports a fault at the next sync), or by this one when it ran there.
// launch_counters() counts deferred work when it is issued, as the GPU build does; one exception:
// a graph replay is counted at issue with what its capture counted, and the emulator's library
// calls recorded in it (which a GPU's graph does not hold) count the launches they make when they
// run.
#pragma once

#include <functional>

#include "runtime/launch_counters.h"
#include "runtime/stream.h"

namespace gq::detail {

bool streams_deferred();
// Tests switch the mode; it applies to work issued afterwards (switching off runs every queue).
void set_streams_deferred(bool on);

stream_t create_emulated_stream(bool blocking);
void destroy_emulated_stream(stream_t stream) noexcept;  // runs its queue first

// Issues `op` on `stream` when work is deferred: runs what CUDA orders before it, queues it and
// returns true. `counts`: what launch_counters() counts for it. Returns false (the caller runs it
// now) when work is not deferred, or when this thread is running a queue (work that a deferred
// operation issues runs as part of it).
bool defer(stream_t stream, const LaunchCounters& counts, std::function<void()> op);

// The host waits for `stream` (nullptr: the legacy default stream, which first waits for the
// blocking streams), or for every stream. No-ops unless work is deferred.
void run_pending(stream_t stream);
void run_all_pending();
// device_free's variant: never throws; an error is kept for the next synchronisation.
void run_all_pending_noexcept() noexcept;

// What the queues hold, in launch_counters()' terms.
LaunchCounters pending_counts();

}  // namespace gq::detail
