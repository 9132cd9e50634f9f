// Cooperative launches: every block of the grid runs at once, each on an OS thread of its own
// (its fibers, __shared__ and dynamic shared memory are that thread's, as for any block), so the
// blocks can meet at a grid barrier. A block's thread 0 blocks its OS thread there once every
// thread of the block has arrived. Where a GPU would hang (a block failed, or finished without
// reaching a grid sync the others wait at) the barrier reports it instead.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cuemu/detail/state.h"

namespace cuemu::detail {

// Thrown in the blocks that wait at a grid barrier that can no longer complete; the launch
// reports the block that broke it, not these.
struct GridAbandoned {};

class GridBarrier {
 public:
  explicit GridBarrier(unsigned long long blocks) : blocks_(blocks) {}

  void arrive_and_wait(const Loc& loc) {
    std::unique_lock lock(mu_);
    if (broken_) throw GridAbandoned{};
    if (finished_ > 0)
      fail_at(loc, "grid sync reached after " + std::to_string(finished_) + " of " +
                       std::to_string(blocks_) +
                       " blocks finished (every block must reach every grid sync)");
    const unsigned long long gen = gen_;
    if (++arrived_ == blocks_) {
      arrived_ = 0;
      ++gen_;
      cv_.notify_all();
      return;
    }
    site_.set("grid sync", loc);
    cv_.wait(lock, [&] { return gen_ != gen || broken_; });
    if (gen_ == gen) throw GridAbandoned{};
  }

  // A block returned: blocks waiting at a grid sync now wait for ever.
  void block_finished(unsigned long long block) {
    std::lock_guard lock(mu_);
    ++finished_;
    if (arrived_ == 0 || broken_) return;
    broken_ = true;
    cv_.notify_all();
    failure_ = "block " + std::to_string(block) + " finished while " + std::to_string(arrived_) +
               " block(s) wait at the grid sync at " + site_.file + ":" +
               std::to_string(site_.line) + " (every block must reach every grid sync)";
  }

  void block_failed() {
    std::lock_guard lock(mu_);
    broken_ = true;
    cv_.notify_all();
  }

  std::string failure() {
    std::lock_guard lock(mu_);
    return failure_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  const unsigned long long blocks_;
  unsigned long long arrived_ = 0, gen_ = 0, finished_ = 0;
  bool broken_ = false;
  Site site_;
  std::string failure_;
};

namespace {
thread_local GridBarrier* tl_grid = nullptr;
}

void grid_barrier(const Loc& loc) {
  if (tl_thread == nullptr) fail_at(loc, "grid sync called outside a kernel");
  if (tl_grid == nullptr)
    fail_at(loc, "grid sync in a kernel that was not launched cooperatively (launch_cooperative)");
  block_barrier(0, "grid sync", loc);
  if (current_fiber().linear == 0) tl_grid->arrive_and_wait(loc);
  block_barrier(0, "grid sync", loc);
}

std::exception_ptr run_cooperative(const LaunchDesc& desc, unsigned long long blocks) {
  GridBarrier barrier(blocks);
  std::mutex mu;
  std::exception_ptr first;
  auto run = [&](unsigned long long block) {
    tl_grid = &barrier;
    try {
      run_block(this_worker(), desc, block);
      barrier.block_finished(block);
    } catch (const GridAbandoned&) {
    } catch (...) {
      {
        std::lock_guard lock(mu);
        if (!first) first = std::current_exception();
      }
      barrier.block_failed();
    }
    tl_grid = nullptr;
  };
  {
    std::vector<std::jthread> threads;
    threads.reserve(blocks - 1);
    for (unsigned long long b = 1; b < blocks; ++b) threads.emplace_back(run, b);
    run(0);
  }
  if (first) return first;
  if (const std::string why = barrier.failure(); !why.empty())
    return std::make_exception_ptr(error("cuemu: " + why));
  return nullptr;
}

}  // namespace cuemu::detail
