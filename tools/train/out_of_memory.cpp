#include "tools/train/out_of_memory.h"

#include <execinfo.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "runtime/error.h"

// AddressSanitizer brings its own allocator and SIGSEGV report, which must stay in place: under it
// neither the allocation functions nor the crash handler are replaced (its reports say the rest).
#if defined(__SANITIZE_ADDRESS__)
#define GQ_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GQ_UNDER_ASAN 1
#endif
#endif

namespace {

// Process-wide by nature: operator new and std::terminate handlers take no arguments.
std::atomic<std::size_t> g_failed_request{0};
std::atomic<const char*> g_tool{"gq"};
std::atomic<const char*> g_doing{"starting"};

// "1.5 GiB", "3.0 MiB", "24 bytes" into `out`.
void bytes_text(char* out, std::size_t size, double bytes) {
  if (bytes >= 1073741824.0) std::snprintf(out, size, "%.1f GiB", bytes / 1073741824.0);
  else if (bytes >= 1048576.0) std::snprintf(out, size, "%.1f MiB", bytes / 1048576.0);
  else std::snprintf(out, size, "%.0f bytes", bytes);
}

// Address space held and its limit (0: none), in bytes.
struct Holdings {
  double held = 0, limit = 0;
};
Holdings holdings() {
  long pages = 0;
  char statm[128] = {};
  if (const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC); fd >= 0) {
    if (::read(fd, statm, sizeof statm - 1) > 0) pages = std::atol(statm);
    ::close(fd);
  }
  Holdings h;
  h.held = static_cast<double>(pages) * static_cast<double>(sysconf(_SC_PAGESIZE));
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    h.limit = static_cast<double>(as.rlim_cur);
  return h;
}

// "the process holds 287.0 MiB of address space of its 300.0 MiB limit (ulimit -v)".
void holdings_text(char* out, std::size_t size) {
  const Holdings h = holdings();
  char held[32], limit[32];
  bytes_text(held, sizeof held, h.held);
  if (h.limit > 0) {
    bytes_text(limit, sizeof limit, h.limit);
    std::snprintf(out, size, "the process holds %s of address space of its %s limit (ulimit -v)",
                  held, limit);
  } else {
    std::snprintf(out, size, "the process holds %s of address space (no ulimit -v)", held);
  }
}

// `what`: gq::OutOfMemory's message (it names the request and the advice), or "" for a
// std::bad_alloc (the request's size is the one operator new remembered).
[[noreturn]] void report_and_exit(const char* what) {
  char request[96] = "", holdings[160];
  if (const std::size_t n = g_failed_request.load(); n > 0 && *what == '\0') {
    char bytes[32];
    bytes_text(bytes, sizeof bytes, static_cast<double>(n));
    std::snprintf(request, sizeof request, ": a request for %s failed", bytes);
  }
  holdings_text(holdings, sizeof holdings);
  std::fflush(stdout);
  std::fprintf(stderr, "%s: out of memory while %s%s%s%s; %s%s\n", g_tool.load(), g_doing.load(),
               *what ? ": " : "", what, request, holdings,
               *what ? "" : ". Lower --batch-size, use a smaller model or --train-subset, or give "
                            "the process more memory");
  std::fflush(stderr);
  std::_Exit(4);
}

#ifndef GQ_UNDER_ASAN
// Some libraries do not check their allocations: oneDNN, its JIT compiler out of memory, crashes
// (SIGSEGV) on the first use of a kernel. A crash with the process at its memory limit is
// reported as out of memory; any other crash keeps its default action (the handler is reset).
extern "C" void on_crash(int sig) {
  const Holdings h = holdings();
  if (h.limit > 0 && h.held > h.limit - std::max(h.limit / 16, 16.0 * 1048576.0)) {
    char what[96];
    std::snprintf(what, sizeof what, "a library crashed (%s) at the memory limit",
                  sig == SIGSEGV ? "SIGSEGV" : "SIGBUS");
    report_and_exit(what);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
#endif

void on_terminate() {
  if (const std::exception_ptr e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& caught) {
      gq::tools::exit_if_out_of_memory(caught);
    } catch (...) {
    }
  }
  std::abort();
}

}  // namespace

#ifndef GQ_UNDER_ASAN
// Replaces the global allocation function of these programs (and of the libraries they load):
// as the standard one, but it remembers what a failed request asked for.
void* operator new(std::size_t n) {
  for (;;) {
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    if (const std::new_handler handler = std::get_new_handler()) {
      handler();
      continue;
    }
    g_failed_request = n;
    throw std::bad_alloc();
  }
}

void* operator new[](std::size_t n) {
  return ::operator new(n);
}

void* operator new(std::size_t n, std::align_val_t alignment) {
  const auto al = static_cast<std::size_t>(alignment);
  for (;;) {  // aligned_alloc wants a multiple of the alignment; free() releases it
    if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al + (n == 0 ? al : 0))) return p;
    if (const std::new_handler handler = std::get_new_handler()) {
      handler();
      continue;
    }
    g_failed_request = n;
    throw std::bad_alloc();
  }
}

void* operator new[](std::size_t n, std::align_val_t alignment) {
  return ::operator new(n, alignment);
}
#endif  // GQ_UNDER_ASAN

namespace gq::tools {

void on_out_of_memory_say(const char* tool, const char* doing) {
  g_tool = tool;
  g_doing = doing;
  std::set_terminate(on_terminate);
#ifndef GQ_UNDER_ASAN
  struct sigaction crash {};
  crash.sa_handler = on_crash;
  crash.sa_flags = SA_RESETHAND;
  sigemptyset(&crash.sa_mask);
  for (const int sig : {SIGSEGV, SIGBUS}) sigaction(sig, &crash, nullptr);
#endif
  // glibc loads libgcc_s the first time an exception unwinds through a C frame (a bad_alloc
  // through pthread_once in oneDNN's threads); out of memory, that load fails and glibc aborts
  // ("libgcc_s.so.1 must be installed for unwinding to work"). backtrace() loads it now.
  static const bool unwinder_loaded = [] {
    void* frame = nullptr;
    return backtrace(&frame, 1) >= 0;
  }();
  (void)unwinder_loaded;
}

void exit_if_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const OutOfMemory*>(&e) != nullptr) report_and_exit(e.what());
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) report_and_exit("");
}

}  // namespace gq::tools
