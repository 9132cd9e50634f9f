#include "tools/train/stop_signal.h"

#include <unistd.h>

#include <csignal>

namespace gq::train {
namespace {

volatile std::sig_atomic_t g_signal = 0;

// Async-signal-safe only: a flag, write(2), signal(), raise().
extern "C" void on_stop_signal(int sig) {
  if (g_signal != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal = sig;
  static constexpr char kMessage[] =
      "\ngq-train: stopping after this step, then writing a checkpoint (signal again to stop at "
      "once, without one)\n";
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in flight carry on
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int stop_signal() {
  return g_signal;
}

}  // namespace gq::train
