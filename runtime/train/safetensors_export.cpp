#include "runtime/train/safetensors_export.h"

#include <cstdint>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "runtime/train/checkpoint_tensors.h"

namespace gq::train {
std::string safetensors_bytes(const Checkpoint& ck, const std::string& source) {
  const std::vector<CheckpointTensor> tensors = checkpoint_tensors(ck, source);
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {
      {"format", "pt"},  // the tensors are laid out as PyTorch's (NCHW, [out, in] weights)
      {"producer", "gradqueue"},
      {"model", ck.header.value("model", std::string())},
      {"dataset", ck.header.value("dataset", std::string())},
      {"step", std::to_string(ck.header.value("step", 0L))},
      {"num_classes", std::to_string(ck.header.value("num_classes", 0L))}};
  std::size_t offset = 0;
  for (const CheckpointTensor& t : tensors) {
    GQ_CHECK(!header.contains(t.name), "{}: tensor '{}' is listed twice", source, t.name);
    header[t.name] = {{"dtype", "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.size * sizeof(float)}}};
    offset += t.size * sizeof(float);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  const std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += json;
  for (const CheckpointTensor& t : tensors)
    out.append(reinterpret_cast<const char*>(t.data), t.size * sizeof(float));
  return out;
}

}  // namespace gq::train
