// The block scheduler: runs the threads of one block as fibers on the calling worker thread.
// A fiber runs until it finishes or waits (barrier, warp op); the scheduler then resumes the next
// runnable fiber in the configured order. A pass that resumes nobody while fibers remain is a
// deadlock.
#include <cstring>
#include <string>

#include "runtime/cuemu/detail/asan.h"
#include "runtime/cuemu/detail/state.h"

namespace cuemu::detail {
namespace {

// Deterministic permutation (splitmix64-driven Fisher-Yates) for Order::shuffle.
void shuffle_order(std::vector<unsigned>& v, unsigned long long seed) {
  for (std::size_t i = v.size(); i > 1; --i) {
    seed += 0x9e3779b97f4a7c15ull;
    unsigned long long z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::swap(v[i - 1], v[z % i]);
  }
}

[[noreturn]] void fiber_entry(ctx::transfer_t t) {
  Worker& w = *tl_worker;
  w.sched_ctx = t.fctx;
  Fiber& f = *static_cast<Fiber*>(t.data);
  asan_finish_switch(nullptr, &w.sched_stack_bottom, &w.sched_stack_size);
  try {
    w.desc->run_thread(w.desc->pack);
    on_thread_exit(w.block, f);
  } catch (...) {
    w.block.error = std::current_exception();
  }
  f.state = FiberState::done;
  // nullptr: this fiber's fake stack (ASan use-after-return mode) can be freed.
  asan_start_switch(nullptr, w.sched_stack_bottom, w.sched_stack_size);
  ctx::jump_fcontext(w.sched_ctx, nullptr);
  __builtin_unreachable();
}

// Sets up the per-block thread coordinates when the block shape changes.
void prepare_fibers(Worker& w, const dim3& dim) {
  Block& b = w.block;
  b.nthreads = dim.x * dim.y * dim.z;
  if (w.cached_dim.x != dim.x || w.cached_dim.y != dim.y || w.cached_dim.z != dim.z) {
    w.cached_dim = dim;
    for (unsigned i = 0; i < b.nthreads; ++i) {
      Fiber& f = b.fibers[i];
      f.tid = uint3{i % dim.x, (i / dim.x) % dim.y, i / (dim.x * dim.y)};
      f.linear = i, f.warp = i / 32, f.lane = i % 32;
    }
    w.order.resize(b.nthreads);
    w.cached_order = Order::shuffle;  // forces the order to be rebuilt below
  }
  const unsigned nwarps = (b.nthreads + 31) / 32;
  for (unsigned i = 0; i < nwarps; ++i) {
    Warp& wp = b.warps[i];
    const unsigned lanes = std::min(32u, b.nthreads - i * 32);
    wp.exists = lanes == 32 ? ~0u : (1u << lanes) - 1;
    wp.exited = wp.arrived = 0;
  }
}

void prepare_order(Worker& w, unsigned long long linear_block) {
  const Order o = order();
  if (o == w.cached_order && o != Order::shuffle) return;
  const auto n = static_cast<unsigned>(w.order.size());
  for (unsigned i = 0; i < n; ++i) w.order[i] = o == Order::reverse ? n - 1 - i : i;
  if (o == Order::shuffle)
    shuffle_order(w.order, shuffle_seed() * 0x2545f4914f6cdd1dull + linear_block);
  w.cached_order = o;
}

void resume(Worker& w, Fiber& f) {
  if (f.state == FiberState::fresh) {
    f.stack = acquire_stack(w);
    f.ctx = ctx::make_fcontext(static_cast<unsigned char*>(f.stack) + w.stack_bytes, w.stack_bytes,
                               fiber_entry);
    f.state = FiberState::suspended;
  }
  tl_thread = &f;
  asan_start_switch(&w.sched_fake_stack, f.stack, w.stack_bytes);
  ctx::transfer_t t = ctx::jump_fcontext(f.ctx, &f);
  asan_finish_switch(w.sched_fake_stack, nullptr, nullptr);
  tl_thread = nullptr;
  f.ctx = t.fctx;
}

// Lists every distinct wait site (up to 8) with its first thread and how many threads wait there.
[[noreturn]] void report_deadlock(Block& b) {
  struct Group {
    const Fiber* first;
    unsigned count;
  };
  std::vector<Group> groups;
  for (unsigned i = 0; i < b.nthreads; ++i) {
    const Fiber& f = b.fibers[i];
    if (f.state != FiberState::suspended) continue;
    bool found = false;
    for (Group& g : groups)
      if (g.first->wait_site.what == f.wait_site.what &&
          g.first->wait_site.line == f.wait_site.line &&
          g.first->wait_site.file == f.wait_site.file)
        ++g.count, found = true;
    if (!found && groups.size() < 8) groups.push_back({&f, 1});
  }
  std::string msg = "deadlock in block " + xyz(b.idx) + ": no thread can continue. Waiting:";
  for (const Group& g : groups)
    msg += "\n  " + std::to_string(g.count) + " thread(s) in " + g.first->wait_site.what + " at " +
           g.first->wait_site.file + ":" + std::to_string(g.first->wait_site.line) +
           " (first: thread " + xyz(g.first->tid) + ")";
  fail(msg);
}

// Drops the fibers of an abandoned block (after an error): their stacks go back to the pool.
void abandon(Worker& w) {
  Block& b = w.block;
  for (unsigned i = 0; i < b.nthreads; ++i) {
    Fiber& f = b.fibers[i];
    if (f.stack != nullptr) release_stack(w, f.stack), f.stack = nullptr;
    f.state = FiberState::fresh;
    f.wait_on = nullptr;
  }
}

}  // namespace

Worker& this_worker() {
  thread_local std::unique_ptr<Worker> w;
  if (!w) w = std::make_unique<Worker>(), tl_worker = w.get();
  return *w;
}

void wait_until_changed(const std::uint32_t* wait_on, const char* what, const Loc& loc) {
  Worker& w = *tl_worker;
  Fiber& f = current_fiber();
  f.wait_on = wait_on;
  f.wait_val = *wait_on;
  f.wait_site.set(what, loc);
  asan_start_switch(&f.asan_fake_stack, w.sched_stack_bottom, w.sched_stack_size);
  ctx::transfer_t t = ctx::jump_fcontext(w.sched_ctx, nullptr);
  asan_finish_switch(f.asan_fake_stack, &w.sched_stack_bottom, &w.sched_stack_size);
  w.sched_ctx = t.fctx;
  tl_thread = &f;
}

void run_block(Worker& w, const LaunchDesc& desc, unsigned long long linear_block) {
  Block& b = w.block;
  const dim3& g = desc.grid;
  b.idx = uint3{static_cast<unsigned>(linear_block % g.x),
                static_cast<unsigned>(linear_block / g.x % g.y),
                static_cast<unsigned>(linear_block / (static_cast<unsigned long long>(g.x) * g.y))};
  tl_block_idx = b.idx;
  tl_block_dim = desc.block;
  tl_grid_dim = desc.grid;
  w.desc = &desc;
  prepare_fibers(w, desc.block);
  prepare_order(w, linear_block);
  b.exited = 0, b.bar_arrived = 0, b.bar_count = 0;
  b.error = nullptr;
  b.lenient_exit = lenient_exit();
  b.strict_shuffle = strict_shuffle();
  // The block's bytes end at the guard page, rounded to 16 for alignment.
  const std::size_t smem = (desc.smem + 15) & ~std::size_t{15};
  tl_dyn_smem = w.smem_base + (w.smem_usable - smem);
  std::memset(tl_dyn_smem, 0xff, smem);

  unsigned remaining = b.nthreads;
  while (remaining > 0) {
    bool progress = false;
    for (unsigned k : w.order) {
      Fiber& f = b.fibers[k];
      if (f.state == FiberState::done) continue;
      if (f.state == FiberState::suspended && *f.wait_on == f.wait_val) continue;
      resume(w, f);
      progress = true;
      if (b.error) {
        abandon(w);
        std::rethrow_exception(b.error);
      }
      if (f.state == FiberState::done) {
        release_stack(w, f.stack);
        f.stack = nullptr;
        --remaining;
      }
    }
    if (!progress) {
      try {
        report_deadlock(b);
      } catch (...) {
        abandon(w);
        throw;
      }
    }
  }
  // Ready for the next block: every fiber starts fresh.
  for (unsigned i = 0; i < b.nthreads; ++i) b.fibers[i].state = FiberState::fresh;
}

}  // namespace cuemu::detail
