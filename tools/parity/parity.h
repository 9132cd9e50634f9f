// GPU-vs-emulator parity: each case runs kernels on fixed, seeded inputs and returns its outputs.
// gq-parity --write FILE runs every case on this build's device; --compare A B checks two such
// files (one from a GQ_CUDA=ON build on a GPU, one from the emulator build) case by case.
#pragma once

#include <functional>
#include <string>
#include <vector>

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

}  // namespace gq::parity

#define GQ_PARITY_CONCAT2(a, b) a##b
#define GQ_PARITY_CONCAT(a, b) GQ_PARITY_CONCAT2(a, b)
// GQ_PARITY_CASE("name", atol, rtol) { ... return outputs; }
#define GQ_PARITY_CASE(name, atol, rtol)                                                   \
  static std::vector<float> GQ_PARITY_CONCAT(parity_case_fn_, __LINE__)();                 \
  static ::gq::parity::Registrar GQ_PARITY_CONCAT(parity_case_reg_, __LINE__)(             \
      ::gq::parity::Case{name, atol, rtol, &GQ_PARITY_CONCAT(parity_case_fn_, __LINE__)}); \
  static std::vector<float> GQ_PARITY_CONCAT(parity_case_fn_, __LINE__)()
