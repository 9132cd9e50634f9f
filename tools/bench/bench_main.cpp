// main() of the gq-bench-* binaries: Google Benchmark's, after the host thread policy is set.
#include <benchmark/benchmark.h>

#include "runtime/host_threads.h"

int main(int argc, char** argv) {
  gq::prefer_passive_openmp(argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
