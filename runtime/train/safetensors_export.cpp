#include "runtime/train/safetensors_export.h"

#include <cstdint>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/error.h"

namespace gq::train {
namespace {

struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  const float* data;
  std::size_t size;
};

// [[name, [dims...]], ...] from the header, each checked: a name of 1 to 256 characters, dims
// 1 .. 2^31 - 1.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> listed(const nlohmann::json& h,
                                                                      const char* key,
                                                                      const std::string& source) {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  if (!h.contains(key)) return out;
  const auto bad = [&](std::size_t i) {
    GQ_FAIL("{}: header field '{}' entry #{}: expected [name, [dims...]] with a name of 1 to 256 "
            "characters and dims 1..2147483647",
            source, key, i);
  };
  GQ_CHECK(h[key].is_array(), "{}: header field '{}': expected a list", source, key);
  for (std::size_t i = 0; i < h[key].size(); ++i) {
    const nlohmann::json& e = h[key][i];
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_array()) bad(i);
    const std::string& name = e[0].get_ref<const std::string&>();
    if (name.empty() || name.size() > 256 || e[1].size() > 8) bad(i);
    std::vector<std::int64_t> dims;
    for (const nlohmann::json& d : e[1]) {
      if (!d.is_number_integer() || d.get<std::int64_t>() < 1 ||
          d.get<std::int64_t>() > std::numeric_limits<std::int32_t>::max())
        bad(i);
      dims.push_back(d.get<std::int64_t>());
    }
    out.emplace_back(name, std::move(dims));
  }
  return out;
}

// The element count, or SIZE_MAX past 2^40 (more than any checkpoint holds: refused by the caller).
std::size_t numel(const std::vector<std::int64_t>& dims) {
  std::size_t n = 1;
  for (std::int64_t d : dims) {
    if (n > (std::size_t{1} << 40) / static_cast<std::size_t>(d)) return SIZE_MAX;
    n *= static_cast<std::size_t>(d);
  }
  return n;
}

std::vector<Tensor> tensors_of(const Checkpoint& ck, const std::string& source) {
  GQ_CHECK(ck.header.contains("tensors"),
           "{}: this checkpoint does not name its tensors (written by an older gq-train); start a "
           "run from it with --init-from {} --max-steps 1 --checkpoint-dir DIR, then export DIR's "
           "checkpoint",
           source, source);
  const std::vector<float>& params = ck.sections.at("params");
  std::vector<Tensor> out;
  std::size_t at = 0;
  for (auto& [name, dims] : listed(ck.header, "tensors", source)) {
    const std::size_t n = numel(dims);
    GQ_CHECK(n <= params.size() - at,
             "{}: the tensors listed in its header need more than the {} parameters it holds "
             "(at '{}')", source, params.size(), name);
    out.push_back({name, dims, params.data() + at, n});
    at += n;
  }
  GQ_CHECK(at == params.size(), "{}: its header lists {} parameters, its params section holds {}",
           source, at, params.size());
  for (auto& [name, dims] : listed(ck.header, "model_state", source)) {
    const auto it = ck.sections.find(name);
    GQ_CHECK(it != ck.sections.end() && it->second.size() == numel(dims),
             "{}: model state '{}' is listed in its header but its section is missing or of "
             "another size", source, name);
    out.push_back({name, dims, it->second.data(), it->second.size()});
  }
  return out;
}

}  // namespace

std::string safetensors_bytes(const Checkpoint& ck, const std::string& source) {
  GQ_CHECK(ck.sections.count("params"), "{}: no params section", source);
  const std::vector<Tensor> tensors = tensors_of(ck, source);
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {
      {"format", "pt"},  // the tensors are laid out as PyTorch's (NCHW, [out, in] weights)
      {"producer", "gradqueue"},
      {"model", ck.header.value("model", std::string())},
      {"dataset", ck.header.value("dataset", std::string())},
      {"step", std::to_string(ck.header.value("step", 0L))},
      {"num_classes", std::to_string(ck.header.value("num_classes", 0L))}};
  std::size_t offset = 0;
  for (const Tensor& t : tensors) {
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
  for (const Tensor& t : tensors)
    out.append(reinterpret_cast<const char*>(t.data), t.size * sizeof(float));
  return out;
}

}  // namespace gq::train
