// Checkpoint files: a JSON header (what was trained, where it stopped) and named float sections
// (parameters, optimizer state, model state), closed by a checksum of everything before it.
// Written atomically: to a temporary file in the same folder, flushed, then renamed over the
// target, so a crash never leaves a half-written checkpoint under the real name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gq::train {

struct Checkpoint {
  nlohmann::json header;                               // config + position + RNG state
  std::map<std::string, std::vector<float>> sections;  // name -> values
};

void write_checkpoint(const std::filesystem::path& path, const Checkpoint& ckpt);
// Throws gq::Error naming the file and what is wrong (missing, truncated, bad magic, checksum).
Checkpoint read_checkpoint(const std::filesystem::path& path);

}  // namespace gq::train
