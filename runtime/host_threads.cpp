#include "runtime/host_threads.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

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

}  // namespace gq
