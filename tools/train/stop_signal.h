// SIGINT (Ctrl-C) and SIGTERM as a request to stop safely: the first one only sets a flag, which
// the Trainer reads between steps (it then finishes the step, writes a checkpoint and stops); a
// second one stops the process at once (that signal's default action).
#pragma once

namespace gq::train {

void install_stop_handlers();
// The signal that asked to stop (SIGINT or SIGTERM), or 0.
int stop_signal();

}  // namespace gq::train
