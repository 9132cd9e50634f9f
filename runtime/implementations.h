// A process-wide note of the library implementations that plans chose (oneDNN's implementation
// names, cuDNN's algorithms), by area ("dnn bf16", "gemm bf16"): what a run's start-up line
// reports. Plans are made at set-up, so the note is written outside the training step.
#pragma once

#include <string>
#include <string_view>

namespace gq::detail {

// Adds `name` to `area`'s note unless it is there already.
void note_implementation(std::string_view area, std::string_view name);
// The distinct names noted for `area`, in the order first noted, joined by ", " ("" if none).
std::string noted_implementations(std::string_view area);

}  // namespace gq::detail
