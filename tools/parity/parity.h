// GPU-vs-emulator parity: each case runs kernels on fixed, seeded inputs and returns its outputs.
// gq-parity --write FILE runs every case on this build's device; --compare A B checks two such
// files (one from a GQ_CUDA=ON build on a GPU, one from the emulator build) case by case.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "runtime/memory.h"
#include "runtime/rng.h"

namespace gq::parity {

struct Case {
  std::string name;
  double atol;  // |gpu - emu| <= atol + rtol * |emu|, elementwise
  double rtol;
  std::function<std::vector<float>()> run;
};

// Cases register themselves at static-initialisation time (see GQ_PARITY_CASE).
std::vector<Case>& registry();

struct Registrar {
  explicit Registrar(Case c) { registry().push_back(std::move(c)); }
};

// Inputs shared by the case files: n uniform values in [lo, hi) from Philox (seed, stream); each
// file uses its own stream so files do not share inputs by accident.
inline std::vector<float> seeded_uniform(std::size_t n, std::uint64_t seed, std::uint64_t stream,
                                         float lo = -1.0f, float hi = 1.0f) {
  HostRng rng(seed, stream);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng.uniform();
  return v;
}

inline DeviceBuffer<float> upload(const std::vector<float>& host) {
  return DeviceBuffer<float>(std::span<const float>(host));
}

// Appends a device buffer's contents to a case's outputs.
template <class T>
void append(std::vector<float>& out, const DeviceBuffer<T>& b) {
  for (const T& v : b.to_host()) out.push_back(static_cast<float>(v));
}

}  // namespace gq::parity

#define GQ_PARITY_CONCAT2(a, b) a##b
#define GQ_PARITY_CONCAT(a, b) GQ_PARITY_CONCAT2(a, b)
// GQ_PARITY_CASE("name", atol, rtol) { ... return outputs; }
#define GQ_PARITY_CASE(name, atol, rtol)                                                   \
  static std::vector<float> GQ_PARITY_CONCAT(parity_case_fn_, __LINE__)();                 \
  static ::gq::parity::Registrar GQ_PARITY_CONCAT(parity_case_reg_, __LINE__)(             \
      ::gq::parity::Case{name, atol, rtol, &GQ_PARITY_CONCAT(parity_case_fn_, __LINE__)}); \
  static std::vector<float> GQ_PARITY_CONCAT(parity_case_fn_, __LINE__)()
