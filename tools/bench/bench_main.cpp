// main() of the gq-bench-* binaries: Google Benchmark's, after the host thread policy is set.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>

#include "runtime/device.h"
#include "runtime/host_threads.h"

int main(int argc, char** argv) {
  gq::prefer_passive_openmp(argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    (void)gq::device_info();  // no GPU: one clear error and exit 1, not std::terminate mid-run
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
