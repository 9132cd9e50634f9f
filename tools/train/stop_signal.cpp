#include "tools/train/stop_signal.h"

#include <unistd.h>

#include <csignal>
#include <initializer_list>

#include "runtime/host_threads.h"

namespace gq::train {
namespace {

volatile std::sig_atomic_t g_signal = 0;

// Async-signal-safe only: a flag, write(2), signal(), raise().
extern "C" void on_stop_signal(int sig) {
  // The output's reader is gone: every later write to it raises SIGPIPE again, which is not a
  // second request to stop. Those writes fail with EPIPE instead.
  if (sig == SIGPIPE) std::signal(SIGPIPE, SIG_IGN);
  if (g_signal != 0) {
    if (sig == SIGPIPE) return;
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
  // SIGHUP (the terminal went away) and SIGPIPE (the reader of the output went away) would end the
  // run without a checkpoint: they stop it safely too. Output to a closed pipe then fails with
  // EPIPE, which the writers report; the stop messages go to stderr.
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) sigaction(sig, &action, nullptr);
  // The handler runs on a thread of its own, never on one inside oneDNN or an emulated kernel
  // (runtime/host_threads.h: there it could corrupt the heap). Not SIGPIPE: the kernel sends it
  // to the thread whose write failed, inside that write, not in the middle of library code.
  gq::handle_signals_on_own_thread({SIGINT, SIGTERM, SIGHUP});
  // Past a file-size limit (ulimit -f) write(2) then fails with EFBIG, which the writers report
  // naming the file (a checkpoint's .tmp is removed), instead of the process dying silently.
  std::signal(SIGXFSZ, SIG_IGN);
}

int stop_signal() {
  return g_signal;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    default: return "a signal";
  }
}

}  // namespace gq::train
