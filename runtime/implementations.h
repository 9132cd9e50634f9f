// A process-wide note of the library implementations that plans chose (oneDNN's implementation
// names, cuDNN's algorithms), by area ("dnn bf16", "gemm bf16"): what a run's start-up line
// reports. Plans are made at set-up, so the note is written outside the training step.
#pragma once

#include <string>
#include <string_view>

#include "runtime/precision.h"

namespace gq::detail {

// The areas: convolutions of one precision ("dnn bf16"), bf16 GEMMs.
std::string dnn_area(Precision precision);
inline constexpr std::string_view kGemmBf16Area = "gemm bf16";

// Adds `name` to `area`'s note unless it is there already.
void note_implementation(std::string_view area, std::string_view name);
// The distinct names noted for `area`, in the order first noted, joined by ", " ("" if none).
std::string noted_implementations(std::string_view area);

}  // namespace gq::detail
