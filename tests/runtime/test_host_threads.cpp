// handle_signals_on_own_thread (runtime/host_threads.h): a storm of process-directed signals while
// the calling thread runs gemms (oneDNN's threaded sgemm in the emulator build). Without it the
// handlers ran on the gemm's threads, and oneDNN 2.6 then corrupted the heap or hung within a
// second or two; gq-train's SIGINT stop aborted with "corrupted size vs. prev_size" now and then.
// Its own binary: the signals must be routed before any compute thread starts (no earlier test).
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <span>
#include <thread>
#include <vector>

#include "runtime/blas.h"
#include "runtime/host_threads.h"
#include "runtime/memory.h"

namespace gq {
namespace {

std::atomic<long> g_handled{0}, g_on_caller{0};
pid_t g_caller = 0;

extern "C" void count_signal(int) {
  g_handled.fetch_add(1);
  if (static_cast<pid_t>(syscall(SYS_gettid)) == g_caller) g_on_caller.fetch_add(1);
}

TEST(HostThreads, SignalHandlersRunOffTheComputingThreads) {
  g_caller = static_cast<pid_t>(syscall(SYS_gettid));
  struct sigaction action {};
  action.sa_handler = count_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &action, nullptr), 0);
  handle_signals_on_own_thread({SIGUSR1});

  const int m = 32, n = 256, k = 784;  // gq-train's mnist mlp: its first layer's forward gemm
  std::vector<float> a(m * k), b(n * k);
  for (int i = 0; i < m * k; ++i) a[i] = static_cast<float>(i % 97) * 0.01f;
  for (int i = 0; i < n * k; ++i) b[i] = static_cast<float>(i % 89) * 0.02f;
  DeviceBuffer<float> da{std::span<const float>(a)}, db{std::span<const float>(b)}, dc(m * n);
  const auto gemm = [&] {
    blas::gemm(blas::Op::N, blas::Op::T, m, n, k, 1.0f, da.data(), k, db.data(), k, 0.0f,
               dc.data(), n);
    return dc.to_host();
  };
  const std::vector<float> want = gemm();
  std::atomic<bool> done{false};
  std::thread storm([&] {
    while (!done.load()) kill(getpid(), SIGUSR1), usleep(50);
  });
  int differ = 0;
  for (int i = 0; i < 3000; ++i) differ += gemm() != want;
  done = true;
  storm.join();
  EXPECT_GT(g_handled.load(), 0) << "no signal was handled";
  EXPECT_EQ(g_on_caller.load(), 0) << "handlers ran on the thread that runs the gemms";
  EXPECT_EQ(differ, 0) << "gemm results changed under the signals";
}

}  // namespace
}  // namespace gq
