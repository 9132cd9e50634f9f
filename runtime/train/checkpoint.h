// Checkpoint files: a JSON header (what was trained, where it stopped) and named float sections
// (parameters, optimizer state, model state), closed by a checksum of everything before it.
// Written atomically: to a temporary file in the same folder, flushed, then renamed over the
// target, so a crash never leaves a half-written checkpoint under the real name.
//
// A checkpoint is untrusted input when it is read (it may be forged, truncated or not a file at
// all): every size in it is checked against the bytes really there before anything is allocated,
// and every header field the tools rely on is checked for its type and range.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gq::train {

// The largest checkpoint read: several times the largest real one (airbench with Grad Queue's
// default queue of 32 gradients, about 300 MB). Checked before reading.
inline constexpr std::uint64_t kMaxCheckpointBytes = std::uint64_t(8) << 30;
// The largest JSON header read (real ones are about 1 KB): a JSON document takes many times its
// size in memory once parsed.
inline constexpr std::uint64_t kMaxCheckpointHeaderBytes = std::uint64_t(1) << 20;

struct Checkpoint {
  nlohmann::json header;                               // config + position + RNG state
  std::map<std::string, std::vector<float>> sections;  // name -> values
};

// Throws gq::Error with the path and the OS error when the file cannot be written.
void write_checkpoint(const std::filesystem::path& path, const Checkpoint& ckpt);
// Throws gq::Error naming the file and what is wrong (missing, not a regular file, too large,
// truncated, bad magic, checksum, malformed header, a header field of the wrong type or range).
Checkpoint read_checkpoint(const std::filesystem::path& path);
// The same on the bytes of a checkpoint file; `source` names them in messages.
Checkpoint parse_checkpoint(std::span<const std::uint8_t> bytes,
                            const std::filesystem::path& source);
// The checksum that closes a checkpoint: FNV-1a (64 bit) of every byte before it. Enough to catch
// truncation and bit rot; not a cryptographic seal (the fuzzer seals its inputs with it).
std::uint64_t checkpoint_checksum(std::span<const std::uint8_t> bytes);

}  // namespace gq::train
