// Fiber stacks and dynamic shared memory: mmap'ed, each with a PROT_NONE guard page, so an
// overflow crashes at the offending access instead of corrupting a neighbour.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

#include "runtime/cuemu/detail/asan.h"
#include "runtime/cuemu/detail/state.h"

namespace cuemu::detail {
namespace {

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

unsigned char* map_or_throw(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED && errno == ENOMEM) throw std::bad_alloc();  // the tools say how much is held
  if (p == MAP_FAILED) fail(std::string("mmap failed: ") + std::strerror(errno));
  return static_cast<unsigned char*>(p);
}

}  // namespace

Worker::Worker() {
  stack_bytes = round_up(detail::stack_bytes(), page_size());
  // Dynamic shared memory ends exactly at the guard page: run_block places the block's bytes at
  // the end of the usable range.
  smem_usable = round_up(kMaxDynamicSmem, page_size());
  smem_map_bytes = smem_usable + page_size();
  smem_base = map_or_throw(smem_map_bytes);
  mprotect(smem_base + smem_usable, page_size(), PROT_NONE);
}

Worker::~Worker() {
  for (void* s : all_stacks)
    munmap(static_cast<unsigned char*>(s) - page_size(), stack_bytes + page_size());
  munmap(smem_base, smem_map_bytes);
}

void* acquire_stack(Worker& w) {
  if (!w.free_stacks.empty()) {
    void* s = w.free_stacks.back();
    w.free_stacks.pop_back();
    return s;
  }
  // Guard page below the stack: stacks grow down.
  unsigned char* base = map_or_throw(w.stack_bytes + page_size());
  mprotect(base, page_size(), PROT_NONE);
  void* s = base + page_size();
  w.all_stacks.push_back(s);
  return s;
}

void release_stack(Worker& w, void* stack) {
  // A fiber never returns from its entry frame, so under ASan its frames' redzones stay poisoned;
  // clear them before another fiber reuses the memory.
  asan_unpoison(stack, w.stack_bytes);
  w.free_stacks.push_back(stack);
}

}  // namespace cuemu::detail
