// cuemu: runs CUDA kernel source on the CPU. Kernels include "runtime/portable.cuh", which under
// g++ includes this header; g++ then compiles the unchanged .cu file as C++20.
//
// Model. Each CUDA thread of a block is a cooperative fiber (Boost.Context fcontext, 64 KiB mmap'ed
// stack with a guard page, CUEMU_STACK_KB). A block runs entirely on one worker thread; blocks are
// taken from an atomic counter by a persistent pool of CUEMU_WORKERS threads (the launching thread
// is one of them). Fibers start lazily and a finished fiber's stack is reused at once, so a kernel
// without barriers runs its threads one after another on one hot stack. Between synchronisation
// points fibers run in CUEMU_ORDER (forward, reverse or seeded shuffle), which exposes races.
// A cooperative launch (launch_cooperative) runs every block at once, each on an OS thread of its
// own, so that cuemu::grid_sync() can hold the whole grid (grid.cpp).
//
// Strictness (each reported as cuemu::error with the file:line of the call): divergent barriers,
// a barrier reached after some threads exited, deadlock, warp-op mask errors, shuffles from
// missing lanes; see runtime/cuemu/sync.h for the exact rules. `__shared__` is static
// thread_local (stale between blocks, like hardware); dynamic shared memory (CUEMU_DYN_SHARED) is
// poisoned with 0xFF and guarded. Kernels must not use __noinline__ or extern __shared__ directly.
#pragma once

// Every standard header a kernel may need comes first, before the qualifier macros (pitfall 2).
#include <math.h>
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <source_location>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "runtime/cuemu/api.h"
#include "runtime/cuemu/atomics.h"
#include "runtime/cuemu/builtins.h"
#include "runtime/cuemu/intrinsics.h"
#include "runtime/cuemu/launch.h"
#include "runtime/cuemu/sync.h"
#include "runtime/cuemu/types.h"

#include "runtime/cuemu/qualifiers.h"
