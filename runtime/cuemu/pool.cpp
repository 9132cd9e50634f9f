// cuemu::launch's engine: validates a launch and spreads its blocks over a persistent pool of
// worker threads (the launching thread works too), which take block numbers from an atomic
// counter. Launches are serialised; the first error of any worker is rethrown to the caller.
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cuemu/detail/state.h"

namespace cuemu::detail {
namespace {

struct Grid {
  const LaunchDesc* desc = nullptr;
  unsigned long long blocks = 0;
  unsigned long long stride = 1;  // Order::shuffle visits blocks as (i * stride + offset) % blocks
  unsigned long long offset = 0;
  Order order = Order::forward;
  std::atomic<unsigned long long> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::exception_ptr error;
};

void run_blocks(Grid& g) {
  Worker& w = this_worker();
  for (;;) {
    if (g.failed.load(std::memory_order_relaxed)) return;
    const unsigned long long i = g.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= g.blocks) return;
    unsigned long long block = i;
    if (g.order == Order::reverse) block = g.blocks - 1 - i;
    if (g.order == Order::shuffle) block = (i * g.stride + g.offset) % g.blocks;
    try {
      run_block(w, *g.desc, block);
    } catch (...) {
      std::lock_guard lock(g.error_mu);
      if (!g.error) g.error = std::current_exception();
      g.failed.store(true);
      return;
    }
  }
}

class Pool {
 public:
  ~Pool() { resize(0); }

  void run(Grid& g) {
    std::lock_guard lock(mu_);
    resize(static_cast<unsigned>(worker_count() - 1));
    grid_ = &g;
    pending_.store(static_cast<int>(threads_.size()));
    if (!threads_.empty()) {
      seq_.fetch_add(1);
      seq_.notify_all();
    }
    run_blocks(g);
    for (int p; (p = pending_.load()) != 0;) pending_.wait(p);
    grid_ = nullptr;
  }

 private:
  void resize(unsigned n) {
    if (threads_.size() == n) return;
    stop_.store(true);
    seq_.fetch_add(1);
    seq_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_.store(false);
    // A new thread must see the next bump of seq_ even if it starts after it happened.
    const unsigned seen = seq_.load();
    for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this, seen] { loop(seen); });
  }

  void loop(unsigned seen) {
    for (;;) {
      seq_.wait(seen);
      seen = seq_.load();
      if (stop_.load()) return;
      run_blocks(*grid_);
      if (pending_.fetch_sub(1) == 1) pending_.notify_one();
    }
  }

  std::mutex mu_;
  std::vector<std::thread> threads_;
  std::atomic<unsigned> seq_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  Grid* grid_ = nullptr;
};

Pool& pool() {
  static Pool p;
  return p;
}

void check(bool ok, const std::string& msg) {
  if (!ok) throw error("cuemu::launch: invalid configuration: " + msg);
}

std::string dims(const dim3& d) {
  return xyz(uint3{d.x, d.y, d.z});
}

void validate(const LaunchDesc& d) {
  check(d.pack != nullptr, "kernel is a null function pointer");
  const unsigned long long threads = 1ull * d.block.x * d.block.y * d.block.z;
  check(
      threads >= 1 && threads <= kMaxThreads,
      "block " + dims(d.block) + " has " + std::to_string(threads) + " threads (must be 1..1024)");
  check(d.block.x <= 1024 && d.block.y <= 1024 && d.block.z <= 64,
        "block " + dims(d.block) + " exceeds (1024,1024,64)");
  check(d.grid.x >= 1 && d.grid.y >= 1 && d.grid.z >= 1,
        "grid " + dims(d.grid) + " has a zero dimension");
  check(d.grid.x <= 2147483647u && d.grid.y <= 65535 && d.grid.z <= 65535,
        "grid " + dims(d.grid) + " exceeds (2147483647,65535,65535)");
  const unsigned long long blocks = 1ull * d.grid.x * d.grid.y * d.grid.z;
  check(!d.cooperative || blocks <= kMaxCooperativeBlocks,
        "cooperative grid " + dims(d.grid) + " has " + std::to_string(blocks) +
            " blocks; at most " + std::to_string(kMaxCooperativeBlocks) + " can be resident at once");
  check(d.smem <= kMaxDynamicSmem, "dynamic shared memory of " + std::to_string(d.smem) +
                                       " bytes exceeds " + std::to_string(kMaxDynamicSmem));
}

unsigned long long gcd(unsigned long long a, unsigned long long b) {
  while (b != 0) a %= b, std::swap(a, b);
  return a;
}

}  // namespace

void run_grid(const LaunchDesc& desc) {
  if (tl_thread != nullptr)
    throw error("cuemu::launch: launching a kernel from a kernel is not supported");
  validate(desc);
  count_launch();
  Grid g;
  g.desc = &desc;
  g.blocks = 1ull * desc.grid.x * desc.grid.y * desc.grid.z;
  g.order = order();
  if (g.order == Order::shuffle && g.blocks > 1) {
    // A stride coprime with the block count makes i -> i*stride+offset a permutation.
    const unsigned long long seed = shuffle_seed() * 0x9e3779b97f4a7c15ull;
    g.offset = seed % g.blocks;
    g.stride = (seed >> 17) % g.blocks | 1;
    while (gcd(g.stride, g.blocks) != 1) ++g.stride;
  }
  if (desc.cooperative)
    g.error = run_cooperative(desc, g.blocks);
  else
    pool().run(g);
  if (g.error) {
    try {
      std::rethrow_exception(g.error);
    } catch (const error&) {
      throw;
    } catch (const std::bad_alloc&) {
      throw;  // out of memory (a fiber stack, a kernel's host allocation): not a kernel fault
    } catch (const std::exception& e) {
      throw error(std::string("cuemu: kernel threw: ") + e.what());
    } catch (...) {
      throw error("cuemu: kernel threw a non-standard exception");
    }
  }
}

}  // namespace cuemu::detail
