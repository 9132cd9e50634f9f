#include "runtime/train/checkpoint_tensors.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/error.h"

namespace gq::train {
namespace {

using Listed = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

// A header field older gq-train versions did not write: what is missing, and how to get a
// checkpoint that has it.
void require(bool present, const std::string& source, const char* lacks) {
  GQ_CHECK(present,
           "{}: this checkpoint {} (written by an older gq-train); start a run from it with "
           "--init-from {} --max-steps 1 --checkpoint-dir DIR, then use DIR's checkpoint",
           source, lacks, source);
}

// [[name, [dims...]], ...] from the header, each checked: a name of 1 to 256 characters, dims
// 1 .. 2^31 - 1.
Listed listed(const nlohmann::json& h, const char* key, const std::string& source) {
  Listed out;
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

// Each listed tensor's offset into `params`, checked: the ranges tile [0, params) exactly.
std::vector<std::size_t> offsets_of(const Checkpoint& ck, const Listed& tensors,
                                    std::size_t params, const std::string& source) {
  require(ck.header.contains("tensor_offsets"), source,
          "does not record where each tensor lies in its parameters");
  const nlohmann::json& o = ck.header["tensor_offsets"];
  GQ_CHECK(o.is_array() && o.size() == tensors.size(),
           "{}: header field 'tensor_offsets': expected a list of {} offsets, one per tensor",
           source, tensors.size());
  std::vector<std::pair<std::size_t, std::size_t>> ranges;  // [begin, end)
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::size_t n = numel(tensors[i].second);
    const bool valid = o[i].is_number_integer() && o[i].get<std::int64_t>() >= 0;
    GQ_CHECK(valid && n <= params && o[i].get<std::size_t>() <= params - n,
             "{}: tensor '{}' ({} values) at offset {} lies outside its {} parameters", source,
             tensors[i].first, n, o[i].dump(), params);
    out.push_back(o[i].get<std::size_t>());
    ranges.emplace_back(out.back(), out.back() + n);
  }
  std::sort(ranges.begin(), ranges.end());
  std::size_t at = 0;
  for (const auto& [begin, end] : ranges) {
    GQ_CHECK(begin == at, "{}: its tensors {} the parameters at offset {}", source,
             begin < at ? "overlap" : "leave a gap in", std::min(begin, at));
    at = end;
  }
  GQ_CHECK(at == params, "{}: its header lists {} parameters, its params section holds {}",
           source, at, params);
  return out;
}

}  // namespace

std::vector<CheckpointTensor> checkpoint_tensors(const Checkpoint& ck, const std::string& source) {
  require(ck.header.contains("tensors"), source, "does not name its tensors");
  const auto params = ck.sections.find("params");
  GQ_CHECK(params != ck.sections.end(), "{}: no params section", source);
  const Listed tensors = listed(ck.header, "tensors", source);
  const std::vector<std::size_t> offsets =
      offsets_of(ck, tensors, params->second.size(), source);
  std::vector<CheckpointTensor> out;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    out.push_back({tensors[i].first, tensors[i].second, params->second.data() + offsets[i],
                   numel(tensors[i].second)});
  for (auto& [name, dims] : listed(ck.header, "model_state", source)) {
    const auto it = ck.sections.find(name);
    GQ_CHECK(it != ck.sections.end() && it->second.size() == numel(dims),
             "{}: model state '{}' is listed in its header but its section is missing or of "
             "another size", source, name);
    out.push_back({name, dims, it->second.data(), it->second.size()});
  }
  return out;
}

namespace {

std::vector<float> floats_of(const nlohmann::json& a, std::size_t n, bool positive,
                             const std::string& what) {
  GQ_CHECK(a.is_array() && a.size() == n, "{}: expected {} numbers", what, n);
  std::vector<float> out;
  for (const nlohmann::json& v : a) {
    GQ_CHECK(v.is_number() && std::isfinite(v.get<double>()) && (!positive || v.get<double>() > 0),
             "{}: expected {} numbers, finite{}, found {}", what, n, positive ? " and > 0" : "",
             v.dump());
    out.push_back(v.get<float>());
  }
  return out;
}

}  // namespace

ModelInput checkpoint_input(const Checkpoint& ck, const std::string& source) {
  require(ck.header.contains("input") && ck.header["input"].is_object(), source,
          "does not record its model's input (shape, normalisation, class names)");
  const nlohmann::json& in = ck.header["input"];
  const std::string what = source + ": header field 'input'";
  ModelInput m;
  const nlohmann::json shape = in.value("shape", nlohmann::json());
  const bool image = shape.is_array() && shape.size() == 3;
  GQ_CHECK(image || (shape.is_array() && shape.size() == 1),
           "{}: 'shape' must be [C, H, W] or [F]", what);
  const std::int64_t limits[] = {image ? 4 : 1 << 24, 4096, 4096};
  for (std::size_t i = 0; i < shape.size(); ++i) {
    GQ_CHECK(shape[i].is_number_integer() && shape[i].get<std::int64_t>() >= 1 &&
                 shape[i].get<std::int64_t>() <= limits[i],
             "{}: 'shape' {}: dimension {} must be 1..{}", what, shape.dump(), i, limits[i]);
    m.shape.push_back(shape[i].get<std::int64_t>());
  }
  if (image) {
    m.mean = floats_of(in.value("mean", nlohmann::json()), m.shape[0], false, what + " 'mean'");
    m.stddev = floats_of(in.value("std", nlohmann::json()), m.shape[0], true, what + " 'std'");
  }
  const nlohmann::json classes = in.value("classes", nlohmann::json());
  GQ_CHECK(classes.is_array() && classes.size() >= 2 && classes.size() <= 100000,
           "{}: 'classes' must list 2 to 100000 class names", what);
  for (const nlohmann::json& c : classes) {
    GQ_CHECK(c.is_string() && c.get_ref<const std::string&>().size() <= 256,
             "{}: 'classes': expected names of at most 256 characters", what);
    m.classes.push_back(c.get<std::string>());
  }
  return m;
}

}  // namespace gq::train
