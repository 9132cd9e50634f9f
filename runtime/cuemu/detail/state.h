// Scheduler state shared by the emulator's .cpp files (not included by kernels).
#pragma once

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <source_location>
#include <string>
#include <vector>

#include "runtime/cuemu/api.h"
#include "runtime/cuemu/builtins.h"
#include "runtime/cuemu/launch.h"
#include "runtime/cuemu/sync.h"

namespace cuemu::detail {

namespace ctx = boost::context::detail;

inline constexpr unsigned kMaxThreads = 1024;
inline constexpr unsigned kMaxWarps = kMaxThreads / 32;

// Where a thread waits, for error messages.
struct Site {
  const char* what = nullptr;
  const char* file = nullptr;
  unsigned line = 0;
  bool same(const char* w, const Loc& loc) const;
  void set(const char* w, const Loc& loc) { what = w, file = loc.file_name(), line = loc.line(); }
};

enum class FiberState : unsigned char { fresh, suspended, done };

struct Fiber : ThreadState {
  ctx::fcontext_t ctx = nullptr;
  void* stack = nullptr;  // lowest usable address; null when the fiber holds no stack
  FiberState state = FiberState::fresh;
  unsigned linear = 0, warp = 0, lane = 0;
  const std::uint32_t* wait_on = nullptr;  // runnable again once *wait_on != wait_val
  std::uint32_t wait_val = 0;
  Site wait_site;
  void* asan_fake_stack = nullptr;
};

// One exchange buffer of a warp op: the values and which lanes supplied them.
struct WarpBuffer {
  std::uint64_t slot[32];
  unsigned arrived = 0;  // lanes that supplied a value
  unsigned mask = 0;     // the op's mask
};

struct Warp {
  std::uint32_t gen = 0;  // completed ops; buffers alternate with its parity
  unsigned exists = 0;    // lanes present in the block (a partial last warp has fewer)
  unsigned exited = 0;
  unsigned arrived = 0, expected = 0, mask = 0;  // the op in progress
  Site site;
  WarpBuffer buf[2];
};

struct Block {
  unsigned nthreads = 0;
  unsigned exited = 0;
  uint3 idx{};
  // Barrier in progress.
  std::uint32_t bar_gen = 0;
  unsigned bar_arrived = 0;
  int bar_count = 0, bar_result = 0;
  Site bar_site;
  std::vector<Fiber> fibers = std::vector<Fiber>(kMaxThreads);
  Warp warps[kMaxWarps];
  std::exception_ptr error;  // set by a fiber that threw; the block is then abandoned
  // Settings sampled at block start (the hot paths must not re-read the atomics).
  bool lenient_exit = false;
  bool strict_shuffle = true;
};

// Per worker thread: its block state, fiber stacks, dynamic shared memory, scheduler context.
struct Worker {
  Worker();
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  Block block;
  std::vector<void*> free_stacks;  // LIFO: the most recently used (cache-hot) stack first
  std::vector<void*> all_stacks;
  std::size_t stack_bytes = 0;
  unsigned char* smem_base = nullptr;  // mapping: kMaxDynamicSmem rounded up + guard page
  std::size_t smem_map_bytes = 0;
  std::size_t smem_usable = 0;
  ctx::fcontext_t sched_ctx = nullptr;
  const LaunchDesc* desc = nullptr;
  dim3 cached_dim{0, 0, 0};
  std::vector<unsigned> order;
  Order cached_order = Order::forward;
  // AddressSanitizer bookkeeping for the scheduler's own stack.
  const void* sched_stack_bottom = nullptr;
  std::size_t sched_stack_size = 0;
  void* sched_fake_stack = nullptr;
};

Worker& this_worker();
inline thread_local Worker* tl_worker = nullptr;  // set by this_worker()
void run_block(Worker& w, const LaunchDesc& desc, unsigned long long linear_block);
// Runs a cooperative grid: every block at once, each on its own OS thread (grid.cpp). Returns
// the first error.
std::exception_ptr run_cooperative(const LaunchDesc& desc, unsigned long long blocks);

// Stacks (stacks.cpp).
void* acquire_stack(Worker& w);
void release_stack(Worker& w, void* stack);

// Fiber side of the scheduler (fiber.cpp): suspends the running fiber until *wait_on changes.
void wait_until_changed(const std::uint32_t* wait_on, const char* what, const Loc& loc);
// Called when a thread's kernel function returns (barrier.cpp / warp.cpp bookkeeping).
void on_thread_exit(Block& b, Fiber& f);
void on_warp_lane_exit(Block& b, Fiber& f);

// Error helpers (error.cpp).
[[noreturn]] void fail_at(const Loc& loc, const std::string& msg);
[[noreturn]] void fail_at(const Site& site, const std::string& msg);
[[noreturn]] void fail(const std::string& msg);
std::string describe_thread(const Fiber& f);
std::string hex(unsigned v);
std::string xyz(const uint3& v);  // "(x,y,z)"

// Settings that only the scheduler reads (config.cpp).
std::size_t stack_bytes();
unsigned long long shuffle_seed();
void count_poison_read();
void count_launch();  // run_grid, once per validated launch

inline Fiber& current_fiber() {
  return *static_cast<Fiber*>(tl_thread);
}

}  // namespace cuemu::detail
