// GQ_SYNC_EVERY_LAUNCH=1, a debugging switch: every kernel launch outside a graph capture is
// followed by a synchronisation of its stream and an error check that names the kernel. Without
// it a fault inside a kernel surfaces at some later synchronisation, with that call's file:line;
// with it, at the launch that faulted (tools/gpu-check reruns a failing GPU test this way, beside
// CUDA_LAUNCH_BLOCKING=1). It serialises the device: for finding a fault, not for training.
// The emulator build honours it too: with CUEMU_STREAMS=deferred the launch's stream runs there.
#pragma once

#include "runtime/stream.h"

namespace gq::detail {

bool sync_every_launch();
void set_sync_every_launch(bool on);  // tests; the environment sets it at start-up

// Waits for `stream` after a launch of `kernel` and throws gq::Error naming the kernel and the
// error if the launch or anything before it on the stream failed.
void check_launched(const void* kernel, stream_t stream);

}  // namespace gq::detail
