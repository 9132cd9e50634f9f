// Run-time settings: read once from the environment at first use, then switchable by tests.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "runtime/cuemu/detail/state.h"

namespace cuemu {
namespace {

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0') throw error(std::string("cuemu: ") + name + "=" + v + " is not an integer");
  return n;
}

Order env_order() {
  const char* v = std::getenv("CUEMU_ORDER");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "forward") == 0) return Order::forward;
  if (std::strcmp(v, "reverse") == 0) return Order::reverse;
  if (std::strcmp(v, "shuffle") == 0) return Order::shuffle;
  throw error(std::string("cuemu: CUEMU_ORDER=") + v + " (expected forward, reverse or shuffle)");
}

struct Settings {
  std::atomic<int> workers;
  std::atomic<Order> order;
  std::atomic<bool> lenient_exit;
  std::atomic<bool> strict_shuffle;
  std::size_t stack_bytes;
  unsigned long long seed;
  std::atomic<unsigned long long> poison_reads{0};
  std::atomic<unsigned long long> launches{0};

  Settings()
      : workers(static_cast<int>(
            env_long("CUEMU_WORKERS", std::max(1u, std::thread::hardware_concurrency())))),
        order(env_order()),
        lenient_exit(env_long("CUEMU_LENIENT_EXIT", 0) != 0),
        strict_shuffle(env_long("CUEMU_LENIENT_SHUFFLE", 0) == 0),
        stack_bytes(static_cast<std::size_t>(env_long("CUEMU_STACK_KB", 64)) * 1024),
        seed(static_cast<unsigned long long>(env_long("CUEMU_SEED", 1))) {
    if (workers < 1) throw error("cuemu: CUEMU_WORKERS must be >= 1");
    if (stack_bytes < 16 * 1024) throw error("cuemu: CUEMU_STACK_KB must be >= 16");
  }
};

Settings& settings() {
  static Settings s;
  return s;
}

}  // namespace

int worker_count() {
  return settings().workers.load(std::memory_order_relaxed);
}
void set_workers(int n) {
  if (n < 1) throw error("cuemu::set_workers: need at least 1 worker, got " + std::to_string(n));
  settings().workers.store(n);
}
Order order() {
  return settings().order.load(std::memory_order_relaxed);
}
void set_order(Order o) {
  settings().order.store(o);
}
bool lenient_exit() {
  return settings().lenient_exit.load(std::memory_order_relaxed);
}
void set_lenient_exit(bool on) {
  settings().lenient_exit.store(on);
}
bool strict_shuffle() {
  return settings().strict_shuffle.load(std::memory_order_relaxed);
}
void set_strict_shuffle(bool on) {
  settings().strict_shuffle.store(on);
}
unsigned long long poison_read_count() {
  return settings().poison_reads.load();
}
void reset_poison_read_count() {
  settings().poison_reads.store(0);
}
unsigned long long launch_count() {
  return settings().launches.load(std::memory_order_relaxed);
}

namespace detail {
std::size_t stack_bytes() {
  return settings().stack_bytes;
}
unsigned long long shuffle_seed() {
  return settings().seed;
}
void count_poison_read() {
  settings().poison_reads.fetch_add(1, std::memory_order_relaxed);
}
void count_launch() {
  settings().launches.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail

}  // namespace cuemu
