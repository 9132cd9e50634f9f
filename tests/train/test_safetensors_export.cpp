// safetensors_bytes (runtime/train/safetensors_export.h): the file's layout (little-endian header
// length, 8-byte aligned data, contiguous byte ranges in listing order, each tensor's values taken
// from its recorded offset, bit for bit) and the refusal of a checkpoint whose header does not
// describe its sections (runtime/train/checkpoint_tensors.h), naming the file.
// The safetensors package's own loader reads a real export in tests/tools/test_export.sh.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "runtime/train/safetensors_export.h"

namespace gq::train {
namespace {

using nlohmann::json;

// [name, [dims...]] (a braced pair would read as an object's key and value).
json entry(const char* name, json dims) { return json::array({name, std::move(dims)}); }

Checkpoint small() {
  Checkpoint ck;
  ck.header = {{"model", "tiny"},
               {"dataset", "mnist"},
               {"step", 9},
               {"num_classes", 3},
               {"tensors", json::array({entry("fc.weight", {3, 2}), entry("fc.bias", {3})})},
               // The registry's layout puts undecayed tensors after decayed ones; here the bias
               // comes first, so listing order is not layout order.
               {"tensor_offsets", json::array({3, 0})},
               {"model_state", json::array({entry("bn.running_mean", {2})})}};
  ck.sections["params"] = {1, 2, 3, 4, 5, 6, -7, 8.5f, 9};
  ck.sections["bn.running_mean"] = {0.25f, -0.5f};
  ck.sections["momentum"] = std::vector<float>(9, 1.0f);  // not part of the model
  return ck;
}

TEST(SafetensorsExport, LaysOutTheHeaderAndTheTensorsAsTheFormatSays) {
  const std::string out = safetensors_bytes(small(), "s.ckpt");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(out[i]);
  ASSERT_EQ((8 + n) % 8, 0u);
  const auto header = json::parse(out.substr(8, n));
  EXPECT_EQ(header.size(), 4u);  // three tensors and the metadata; not the momentum
  EXPECT_EQ(header["fc.weight"]["shape"], json::array({3, 2}));
  EXPECT_EQ(header["fc.weight"]["dtype"], "F32");
  EXPECT_EQ(header["fc.weight"]["data_offsets"], json::array({0, 24}));
  EXPECT_EQ(header["fc.bias"]["data_offsets"], json::array({24, 36}));
  EXPECT_EQ(header["bn.running_mean"]["data_offsets"], json::array({36, 44}));
  EXPECT_EQ(header["__metadata__"]["step"], "9");
  EXPECT_EQ(header["__metadata__"]["model"], "tiny");
  ASSERT_EQ(out.size(), 8 + n + 44);
  float values[11];
  std::memcpy(values, out.data() + 8 + n, sizeof values);
  const float want[11] = {4, 5, 6, -7, 8.5f, 9, 1, 2, 3, 0.25f, -0.5f};
  for (int i = 0; i < 11; ++i) EXPECT_EQ(values[i], want[i]) << i;
}

void expect_refused(const Checkpoint& ck, const std::string& expected) {
  try {
    safetensors_bytes(ck, "forged.ckpt");
    ADD_FAILURE() << "accepted; expected: " << expected;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("forged.ckpt"), std::string::npos) << e.what();
  }
}

TEST(SafetensorsExport, AHeaderThatDoesNotDescribeTheSectionsIsRefused) {
  Checkpoint ck = small();
  ck.header.erase("tensors");
  expect_refused(ck, "does not name its tensors");
  ck = small();
  ck.header["tensors"][1][1] = json::array({4});
  expect_refused(ck, "its tensors overlap the parameters at offset 3");
  ck = small();
  ck.header["tensors"][1][1] = json::array({2});
  expect_refused(ck, "its tensors leave a gap in the parameters at offset 2");
  ck = small();
  ck.header["tensors"][0][1] = json::array({2147483647, 2147483647, 2147483647});
  expect_refused(ck, "lies outside its 9 parameters");
  ck = small();
  ck.header.erase("tensor_offsets");
  expect_refused(ck, "does not record where each tensor lies in its parameters");
  for (const json& offsets : {json::array({3}), json::array({3, 0, 0}), json(3)}) {
    ck = small();
    ck.header["tensor_offsets"] = offsets;
    expect_refused(ck, "header field 'tensor_offsets': expected a list of 2 offsets");
  }
  for (const json& offsets : {json::array({-3, 0}), json::array({"3", 0}), json::array({4, 0})}) {
    ck = small();
    ck.header["tensor_offsets"] = offsets;
    expect_refused(ck, "tensor 'fc.weight' (6 values) at offset");
  }
  ck = small();
  ck.header["tensor_offsets"] = json::array({0, 0});
  expect_refused(ck, "its tensors overlap the parameters at offset 0");
  for (const json& bad : {json::array({"fc.weight"}), entry("", {9}), entry("w", {0}),
                          entry("w", {-1}), entry("w", {"9"}), json::array({7, {9}})}) {
    ck = small();
    ck.header["tensors"] = json::array({bad});
    ck.header["tensor_offsets"] = json::array({0});
    expect_refused(ck, "header field 'tensors' entry #0");
  }
  ck = small();
  ck.header["model_state"][0][1] = json::array({3});
  expect_refused(ck, "model state 'bn.running_mean' is listed in its header but its section is "
                     "missing or of another size");
  ck = small();
  ck.header["tensors"] = json::array({entry("fc.weight", {3, 2}), entry("fc.weight", {3})});
  ck.header["tensor_offsets"] = json::array({3, 0});
  expect_refused(ck, "tensor 'fc.weight' is listed twice");
}

}  // namespace
}  // namespace gq::train
