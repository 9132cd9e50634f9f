// gq-gpu-smoke: what this process runs on (driver, CUDA runtime, cuBLAS, cuDNN, the device and
// its compute mode), then one call of each library path checked against a host reference. One
// line per item, "name: value" or "name: OK detail" / "name: FAILED error", so that a driver or
// library that refuses something is named in the first lines of the GPU check's summary.
// Exit 0 when every check is OK, 1 otherwise. The emulator build prints "emulator" for what it
// cannot know and runs the same checks.
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "runtime/blas.h"
#include "runtime/device.h"
#include "runtime/dnn.h"
#include "tools/smoke/smoke_checks.h"

namespace {

// Prints "name: value"; a query that throws prints "name: FAILED error" and counts as a failure.
bool print_info(const char* name, const std::function<std::string()>& query) {
  try {
    fmt::print("{}: {}\n", name, query());
    return true;
  } catch (const std::exception& e) {
    fmt::print("{}: FAILED {}\n", name, e.what());
    return false;
  }
}

bool run_check(const char* name, const std::function<std::string()>& check) {
  try {
    const std::string detail = check();
    fmt::print("{}: OK {}\n", name, detail);
    return true;
  } catch (const std::exception& e) {
    fmt::print("{}: FAILED {}\n", name, e.what());
    return false;
  }
}

std::string device_text() {
  const gq::DeviceInfo& d = gq::device_info();
  if (d.is_emulator) return d.name;
  return fmt::format("{} (sm_{}{}, {} SMs)", d.name, d.cc_major, d.cc_minor, d.sm_count);
}

std::string clocks_text() {
  const gq::DeviceInfo& d = gq::device_info();
  if (d.is_emulator) return "emulator";
  return fmt::format("SM {} MHz, memory {} MHz (peak)", d.sm_clock_khz / 1000,
                     d.memory_clock_khz / 1000);
}

std::string memory_text() {
  std::size_t free_bytes = 0, total_bytes = 0;
  gq::device_memory(&free_bytes, &total_bytes);
  return fmt::format("{:.1f} GiB free of {:.1f} GiB", free_bytes / 1073741824.0,
                     total_bytes / 1073741824.0);
}

}  // namespace

int main() {
  int failures = 0;
  // Versions first: they need no device, so a machine whose driver refuses it still shows them.
  failures += !print_info("driver", gq::driver_version);
  failures += !print_info("cuda runtime", gq::runtime_version);
  failures += !print_info("device", device_text);
  failures += !print_info("compute mode", [] { return gq::device_info().compute_mode; });
  failures += !print_info("clocks", clocks_text);
  failures += !print_info("memory", memory_text);
  failures += !print_info("cublas", gq::blas::library_version);
  failures += !print_info("cudnn", gq::dnn::library_version);
  std::fflush(stdout);
  int checks = 0;
  for (const auto& [name, check] :
       {std::pair<const char*, std::string (*)()>{"smoke gemm", gq::smoke::check_gemm},
        {"smoke conv forward", gq::smoke::check_conv_forward},
        {"smoke conv backward", gq::smoke::check_conv_backward},
        {"smoke graph", gq::smoke::check_graph}}) {
    failures += !run_check(name, check);
    ++checks;
    std::fflush(stdout);
  }
  fmt::print("smoke: {}\n", failures == 0 ? fmt::format("all {} checks OK", checks)
                                          : fmt::format("FAILED ({} items)", failures));
  return failures == 0 ? 0 : 1;
}
