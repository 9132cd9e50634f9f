// gq-parity: runs every registered parity case on this build's device and writes the outputs, or
// compares two written files. File format: per case, u32 name length, name bytes, u64 count,
// count float32 values (little-endian, as both machines are).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <fmt/format.h>

#include "kernels/cases/kernel_case.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "tools/parity/parity.h"

namespace gq::parity {

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

namespace {

// The kernel cases (kernels/cases/kernel_case.h) at their parity sizes, after the hand-written
// cases of this folder.
const bool kKernelCasesAdded = [] {
  for (const cases::KernelCase& c : cases::all_kernel_cases())
    for (const cases::Dims& size : c.parity_sizes)
      registry().push_back({fmt::format("{} {}", c.name, cases::to_string(size)),
                            c.gpu_vs_emulator.atol, c.gpu_vs_emulator.rtol, [&c, size] {
                              cases::PreparedCase p = c.prepare(size, 1);
                              p.launch();
                              return p.outputs();
                            }});
  return true;
}();

}  // namespace

namespace {

using Outputs = std::map<std::string, std::vector<float>>;

void write_outputs(const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  GQ_CHECK(f.good(), "cannot open {} for writing", path);
  for (const Case& c : registry()) {
    const std::vector<float> v = c.run();
    const auto len = static_cast<std::uint32_t>(c.name.size());
    const auto count = static_cast<std::uint64_t>(v.size());
    f.write(reinterpret_cast<const char*>(&len), sizeof len);
    f.write(c.name.data(), len);
    f.write(reinterpret_cast<const char*>(&count), sizeof count);
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(count * 4));
    fmt::print("ran {:<40} {} values\n", c.name, count);
  }
  GQ_CHECK(f.good(), "write to {} failed", path);
}

Outputs read_outputs(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GQ_CHECK(f.good(), "cannot open parity file {}", path);
  Outputs out;
  std::uint32_t len = 0;
  while (f.read(reinterpret_cast<char*>(&len), sizeof len)) {
    GQ_CHECK(len < 4096, "{}: corrupt parity file (case name length {} at offset {})", path, len,
             static_cast<long long>(f.tellg()) - 4);
    std::string name(len, '\0');
    std::uint64_t count = 0;
    f.read(name.data(), len);
    f.read(reinterpret_cast<char*>(&count), sizeof count);
    std::vector<float> v(count);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * 4));
    GQ_CHECK(f.good(), "{}: truncated in case '{}'", path, name);
    out[name] = std::move(v);
  }
  return out;
}

int compare(const std::string& path_a, const std::string& path_b) {
  const Outputs a = read_outputs(path_a), b = read_outputs(path_b);
  int failures = 0;
  fmt::print("{:<40} {:>9} {:>12} {:>12} {}\n", "case", "values", "max |diff|", "max rel", "");
  for (const Case& c : registry()) {
    auto ia = a.find(c.name), ib = b.find(c.name);
    if (ia == a.end() || ib == b.end() || ia->second.size() != ib->second.size()) {
      fmt::print("{:<40} MISSING or size mismatch\n", c.name);
      ++failures;
      continue;
    }
    double max_abs = 0, max_rel = 0;
    bool ok = true;
    for (std::size_t i = 0; i < ia->second.size(); ++i) {
      const double x = ia->second[i], y = ib->second[i];
      const double d = std::fabs(x - y);
      if (std::isnan(x) != std::isnan(y) || d > c.atol + c.rtol * std::fabs(y)) ok = false;
      if (!std::isnan(d)) {
        max_abs = std::max(max_abs, d);
        max_rel = std::max(max_rel, d / std::max(std::fabs(y), 1e-30));
      }
    }
    fmt::print("{:<40} {:>9} {:>12.3e} {:>12.3e} {}\n", c.name, ia->second.size(), max_abs, max_rel,
               ok ? "ok" : "MISMATCH");
    failures += !ok;
  }
  fmt::print("parity: {} passed, {} failed\n", registry().size() - failures, failures);
  return failures ? 1 : 0;
}

}  // namespace
}  // namespace gq::parity

int main(int argc, char** argv) {
  using namespace gq::parity;
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "--write" && argc == 3) {
      fmt::print("device: {}\n", gq::device_info().name);
      write_outputs(argv[2]);
      return 0;
    }
    if (mode == "--compare" && argc == 4) return compare(argv[2], argv[3]);
    if (mode == "--list" && argc == 2) {
      for (const Case& c : registry()) fmt::print("{}\n", c.name);
      return 0;
    }
    std::fprintf(stderr, "usage: gq-parity --write FILE | --compare GPU_FILE EMU_FILE | --list\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gq-parity: %s\n", e.what());
    return 1;
  }
}
