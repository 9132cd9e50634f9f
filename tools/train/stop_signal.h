// SIGINT (Ctrl-C), SIGTERM, SIGHUP and SIGPIPE as a request to stop safely: the first one only
// sets a flag, which the Trainer reads between steps (it then finishes the step, writes a
// checkpoint and stops); a second one stops the process at once (that signal's default action).
// SIGXFSZ is ignored, so that a write past a file-size limit fails as a reported write error.
// Install before the run starts its compute threads: they inherit the mask that keeps SIGINT,
// SIGTERM and SIGHUP on a thread of their own (runtime/host_threads.h).
#pragma once

namespace gq::train {

void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_signal();
const char* signal_name(int sig);  // "SIGHUP", ...

}  // namespace gq::train
