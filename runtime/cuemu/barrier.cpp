// __syncthreads and its _count/_and/_or forms, and the barrier checks done when a thread exits.
#include <string>

#include "runtime/cuemu/detail/state.h"

namespace cuemu::detail {

static std::string site_text(const Site& s) {
  return std::string(s.what) + " at " + s.file + ":" + std::to_string(s.line);
}

int block_barrier(int pred, const char* what, const Loc& loc) {
  if (tl_thread == nullptr) fail_at(loc, std::string(what) + " called outside a kernel");
  Block& b = tl_worker->block;
  if (b.exited != 0 && !b.lenient_exit)
    fail_at(loc, std::string(what) + " reached after " + std::to_string(b.exited) + " of " +
                     std::to_string(b.nthreads) +
                     " threads of the block exited (every thread must reach every barrier; "
                     "CUEMU_LENIENT_EXIT=1 allows this)");
  if (b.bar_arrived == 0) {
    b.bar_site.set(what, loc);
  } else if (!b.bar_site.same(what, loc)) {
    fail_at(loc, std::string("divergent barrier: ") + what +
                     " here, while other threads of the "
                     "block wait at " +
                     site_text(b.bar_site));
  }
  b.bar_count += pred;
  if (++b.bar_arrived == b.nthreads - b.exited) {
    // Last arrival releases the phase; the waiters read bar_result when they resume, before
    // any of them can reach (and complete) the next barrier.
    b.bar_result = b.bar_count;
    b.bar_count = 0;
    b.bar_arrived = 0;
    ++b.bar_gen;
    return b.bar_result;
  }
  wait_until_changed(&b.bar_gen, what, loc);
  return b.bar_result;
}

void on_thread_exit(Block& b, Fiber& f) {
  ++b.exited;
  on_warp_lane_exit(b, f);
  if (b.bar_arrived == 0) return;
  if (!b.lenient_exit)
    fail_at(b.bar_site, "thread exited while " + std::to_string(b.bar_arrived) +
                            " threads of its block wait at this barrier (every thread must reach "
                            "every barrier; CUEMU_LENIENT_EXIT=1 allows this)");
  if (b.bar_arrived == b.nthreads - b.exited) {
    b.bar_result = b.bar_count;
    b.bar_count = 0;
    b.bar_arrived = 0;
    ++b.bar_gen;
  }
}

}  // namespace cuemu::detail
