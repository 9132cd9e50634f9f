// Checkpoint files as untrusted input (issue 14): forged headers and sizes, malformed JSON and
// special files end in a gq::Error naming the file and the field, never in a crash, a raw
// JSON-library exception, a huge allocation or a hang. Host only: no model, no device.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/error.h"
#include "runtime/train/checkpoint.h"

namespace gq::train {
namespace {

using Bytes = std::vector<std::uint8_t>;

nlohmann::json good_header() {
  return {{"format", 2},        {"model", "mlp"},
          {"dataset", "mnist"}, {"batch_size", 32},
          {"optimizer", "sgd"}, {"gradqueue", false},
          {"seed", 7u},         {"step", 5},
          {"train_n", 640},     {"train_subset", 0},
          {"num_classes", 10},  {"params", 2},
          {"loss_steps", 1},    {"settings", {{"seed", 7u}}}};
}

template <class T>
void put(Bytes& out, T v) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

// A checkpoint file as write_checkpoint lays it out, with a raw header and a forged section size.
Bytes forge(const std::string& header, std::uint64_t section_values, std::size_t data_bytes) {
  Bytes b = {'G', 'Q', 'C', 'K', 'P', 'T', '0', '1'};
  put<std::uint64_t>(b, header.size());
  b.insert(b.end(), header.begin(), header.end());
  put<std::uint64_t>(b, 1);
  put<std::uint32_t>(b, 6);
  for (char c : std::string("params")) b.push_back(static_cast<std::uint8_t>(c));
  put<std::uint64_t>(b, section_values);
  b.resize(b.size() + data_bytes);
  put<std::uint64_t>(b, checkpoint_checksum(b));
  return b;
}

// Parsing must throw gq::Error (not another exception) with every part in its message.
void expect_refused(const Bytes& bytes, const std::vector<std::string>& parts) {
  try {
    parse_checkpoint(bytes, "forged.ckpt");
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << p << " in " << msg;
  }
}

std::string with(const char* key, const nlohmann::json& value) {
  auto h = good_header();
  h[key] = value;
  return h.dump();
}

TEST(CheckpointFile, WellFormedParses) {
  const auto ck = parse_checkpoint(forge(good_header().dump(), 2, 8), "ok.ckpt");
  EXPECT_EQ(ck.header["step"], 5);
  EXPECT_EQ(ck.sections.at("params").size(), 2u);
}

TEST(CheckpointFile, HeaderFieldsAreValidated) {
  expect_refused(forge(with("step", -5), 2, 8), {"forged.ckpt", "'step'", "-5", "non-negative"});
  expect_refused(forge(with("step", "12"), 2, 8), {"'step'", "\"12\""});
  expect_refused(forge(with("seed", -1), 2, 8), {"'seed'", "0..2^64-1"});
  expect_refused(forge(with("batch_size", std::int64_t(1) << 40), 2, 8), {"'batch_size'"});
  expect_refused(forge(with("model", ""), 2, 8), {"'model'", "1 to 64 characters"});
  auto h = good_header();
  h.erase("train_n");
  expect_refused(forge(h.dump(), 2, 8), {"'train_n' is missing"});
  h = good_header();
  h.erase("settings");
  expect_refused(forge(h.dump(), 2, 8), {"'settings' is missing", "a JSON object"});
  expect_refused(forge(with("format", 4), 2, 8), {"'format'", "1, 2 or 3"});
}

TEST(CheckpointFile, MalformedJsonNamesTheFile) {
  expect_refused(forge("{\"step\": }", 2, 8), {"forged.ckpt", "not valid JSON", "parse error"});
  expect_refused(forge("[1, 2]", 2, 8), {"forged.ckpt", "not a JSON object", "array"});
  expect_refused(forge(std::string(20000, '[') + std::string(20000, ']'), 2, 8),
                 {"not a JSON object"});
}

TEST(CheckpointFile, ForgedSizesAreComparedWithTheBytesThere) {
  // 2^62 values, or 2^62 + 1 whose byte count (x4) wraps around to 4 in 64 bits.
  expect_refused(forge(good_header().dump(), std::uint64_t(1) << 62, 8),
                 {"forged.ckpt", "section data", "needs"});
  expect_refused(forge(good_header().dump(), (std::uint64_t(1) << 62) + 1, 8),
                 {"forged.ckpt", "section data"});
  Bytes huge_header = {'G', 'Q', 'C', 'K', 'P', 'T', '0', '1'};
  put<std::uint64_t>(huge_header, std::uint64_t(1) << 63);
  huge_header.resize(64);
  put<std::uint64_t>(huge_header, checkpoint_checksum(huge_header));
  expect_refused(huge_header,
                 {"checkpoint header of 9223372036854775808 bytes", "at most 1048576"});
  // Extra bytes after the last section.
  expect_refused(forge(good_header().dump(), 2, 12), {"4 unexpected bytes"});
}

TEST(CheckpointFile, SpecialFilesAreRefusedWithoutBlocking) {
  const auto dir = std::filesystem::temp_directory_path() / "gq_test_checkpoint_file";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ASSERT_EQ(::mkfifo((dir / "fifo.ckpt").c_str(), 0600), 0);
  const auto refused = [](const std::filesystem::path& p, const char* what) {
    try {
      read_checkpoint(p);
      ADD_FAILURE() << "read " << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused(dir / "fifo.ckpt", "found a FIFO (named pipe)");
  refused("/dev/zero", "found a character device");
  refused(dir, "found a directory");
  refused(dir / "missing.ckpt", "not found");
  std::filesystem::remove_all(dir);
}

TEST(CheckpointFile, WriteFailuresNameThePathAndTheOsError) {
  const auto dir = std::filesystem::temp_directory_path() / "gq_test_checkpoint_write";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  Checkpoint ck;
  ck.header = good_header();
  try {
    write_checkpoint(dir / "file" / "sub" / "a.ckpt", ck);  // a folder under a regular file
    ADD_FAILURE() << "wrote under a file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the checkpoint folder"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("Not a directory"), std::string::npos) << e.what();
  }
  write_checkpoint(dir / "ok.ckpt", ck);
  EXPECT_EQ(read_checkpoint(dir / "ok.ckpt").header, ck.header);
  EXPECT_FALSE(std::filesystem::exists(dir / "ok.ckpt.tmp"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gq::train
