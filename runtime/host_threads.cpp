#include "runtime/host_threads.h"

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "runtime/error.h"

namespace gq {

void prefer_passive_openmp(char** argv) {
#if !GQ_WITH_CUDA
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);
  std::perror("gradqueue: re-executing with OMP_WAIT_POLICY=passive failed; continuing");
#else
  (void)argv;
#endif
}

void handle_signals_on_own_thread(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (const int sig : signals) sigaddset(&set, sig);
  const int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr);
  GQ_CHECK(rc == 0, "handle_signals_on_own_thread: pthread_sigmask failed (error {})", rc);
  // The kernel delivers a process-directed signal to a thread that does not block it: this one,
  // which only waits (pause returns after each handler), or a library's thread started before
  // main (OpenBLAS's, idle under oneDNN). Detached: it ends with the process.
  std::thread([set] {
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    for (;;) pause();
  }).detach();
}

}  // namespace gq
