// cuemu's host-facing API: the error type, the execution-order and worker settings that tests
// switch at run time, and the counter of poisoned (undefined) warp reads.
#pragma once

#include <stdexcept>
#include <string>

namespace cuemu {

// Every failure the emulator detects: bad launch configuration, divergent or post-exit barriers,
// deadlock, broken warp-op masks, shuffles from missing lanes. The message starts with the
// file:line of the offending call when there is one.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The order in which the fibers of a block (and the blocks of a grid) are scheduled. Between two
// synchronisation points threads run one after another, so a missing __syncthreads shows up as a
// wrong result in at least one order.
enum class Order { forward, reverse, shuffle };

// Environment, read once at first use: CUEMU_ORDER=forward|reverse|shuffle, CUEMU_WORKERS=n
// (default: hardware threads), CUEMU_STACK_KB (default 64), CUEMU_LENIENT_EXIT=1 (allow barriers
// after some threads exited), CUEMU_LENIENT_SHUFFLE=1 (poison instead of error for shuffles from
// missing/exited lanes), CUEMU_SEED (shuffle order seed, default 1).
int worker_count();
void set_workers(int n);  // n >= 1; takes effect at the next launch
Order order();
void set_order(Order o);
bool lenient_exit();
void set_lenient_exit(bool on);
bool strict_shuffle();  // default true
void set_strict_shuffle(bool on);

// Warp-op reads that returned poison (all bits 1) because the source lane gave no value.
unsigned long long poison_read_count();
void reset_poison_read_count();

// Launches since the process started (cuemu::launch calls that passed validation; the grid's
// blocks are not counted separately). Never reset: callers take differences.
unsigned long long launch_count();

}  // namespace cuemu
