// The decoded-dataset cache (datasets/decoded_cache.h): a round trip keeps every byte; a cache
// file that is truncated, flipped, forged or not one at all is refused naming the file (and then
// ignored, decoded again and replaced); a hit skips decoding; a changed source, GQ_CACHE_DIR=off
// and an unwritable folder each decode; old copies are pruned.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "datasets/decoded_cache.h"
#include "tests/datasets/test_helpers.h"

namespace gq::data {
namespace {

using test::Bytes;
using test::TempDir;
using test::write_file;

Dataset split(const char* which, int n, std::uint8_t base) {
  Dataset d;
  d.name = "tiny";
  d.split = which;
  d.n = n, d.channels = 3, d.height = 2, d.width = 3, d.num_classes = 4;
  d.class_names = {"a", "b", "c", "d"};
  for (int i = 0; i < n * 18; ++i) d.images.push_back(static_cast<std::uint8_t>(base + 7 * i));
  for (int i = 0; i < n; ++i) d.labels.push_back(i % 4);
  return d;
}

TrainTest tiny() { return {split("train", 5, 1), split("test", 3, 2)}; }

void expect_same(const TrainTest& a, const TrainTest& b) {
  for (const auto& [x, y] : {std::pair{&a.train, &b.train}, std::pair{&a.test, &b.test}}) {
    EXPECT_EQ(x->digest(), y->digest());
    EXPECT_EQ(x->images, y->images);
    EXPECT_EQ(x->labels, y->labels);
    EXPECT_EQ(x->class_names, y->class_names);
    EXPECT_EQ(x->split, y->split);
  }
}

void write(const std::filesystem::path& p, const std::string& bytes) {
  write_file(p, Bytes(bytes.begin(), bytes.end()));
}

void expect_refused(const std::filesystem::path& p, const std::string& expected) {
  try {
    read_decoded(p);
    ADD_FAILURE() << "accepted; expected: " << expected;
  } catch (const gq::Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
  }
}

TEST(DecodedCache, ARoundTripKeepsEveryByte) {
  TempDir dir;
  write(dir.path() / "c.gqdata", encode_decoded(tiny()));
  expect_same(read_decoded(dir.path() / "c.gqdata"), tiny());
}

TEST(DecodedCache, DamagedOrForgedFilesAreRefusedNamingTheFile) {
  TempDir dir;
  const std::string good = encode_decoded(tiny());
  const auto p = dir.path() / "c.gqdata";
  for (std::size_t cut : {std::size_t{0}, std::size_t{7}, std::size_t{12}, good.size() - 1}) {
    write(p, good.substr(0, cut));
    expect_refused(p, "a corrupt decoded-dataset cache file");
  }
  std::string flipped = good;
  flipped[good.size() - 30] ^= 1;  // a test pixel
  write(p, flipped);
  expect_refused(p, "the test split's digest differs from its header's");
  write(p, good + "x");
  expect_refused(p, "1 bytes after the test split");
  std::string forged = good;
  const std::string n5 = "\"n\":5", huge = "\"n\":9999999";
  const std::size_t at = forged.find(n5);
  ASSERT_NE(at, std::string::npos);
  std::uint64_t header = 0;
  std::memcpy(&header, forged.data() + 8, 8);
  header += huge.size() - n5.size();
  forged.replace(at, n5.size(), huge);
  std::memcpy(forged.data() + 8, &header, 8);
  write(p, forged);
  expect_refused(p, "the images needs 179999982 bytes");
  write(p, "GQDATA02" + good.substr(8));
  expect_refused(p, "expected the magic GQDATA01");
}

class CacheDir : public ::testing::Test {
 protected:
  CacheDir() { ::setenv("GQ_CACHE_DIR", (cache.path() / "cache").c_str(), 1); }
  ~CacheDir() override { ::unsetenv("GQ_CACHE_DIR"); }
  TrainTest load() {
    return load_through_cache("tiny", source.path(), [&] {
      ++decodes;
      return tiny();
    });
  }
  TempDir cache, source;
  int decodes = 0;
};

TEST_F(CacheDir, AHitSkipsDecodingAndAChangedSourceDecodesAgain) {
  write_file(source.path() / "data.bin", {1, 2, 3});
  expect_same(load(), tiny());
  expect_same(load(), tiny());
  EXPECT_EQ(decodes, 1);
  write_file(source.path() / "data.bin", {1, 2, 3, 4});  // another size: another key
  expect_same(load(), tiny());
  EXPECT_EQ(decodes, 2);
}

TEST_F(CacheDir, AnArchiveFileIsASourceToo) {
  write_file(source.path() / "data.tar.xz", {1, 2, 3});
  const auto archive = [&] {
    return load_through_cache("tiny", source.path() / "data.tar.xz", [&] {
      ++decodes;
      return tiny();
    });
  };
  archive();
  expect_same(archive(), tiny());
  EXPECT_EQ(decodes, 1);
  // A source that is not there: no key, no cache, the reader's own error.
  EXPECT_THROW(load_through_cache("tiny", source.path() / "missing", [&]() -> TrainTest {
                 throw DataError("missing", "missing");
               }),
               DataError);
}

TEST_F(CacheDir, ADamagedCacheFileIsIgnoredAndReplaced) {
  load();
  for (const auto& e : std::filesystem::directory_iterator(cache.path() / "cache"))
    write(e.path(), "GQDATA01 not a cache");
  expect_same(load(), tiny());
  EXPECT_EQ(decodes, 2);
  expect_same(load(), tiny());
  EXPECT_EQ(decodes, 2);  // the replacement is read
}

TEST_F(CacheDir, OffOrUnwritableDecodesEveryTime) {
  ::setenv("GQ_CACHE_DIR", "off", 1);
  EXPECT_TRUE(decoded_cache_dir().empty());
  load();
  load();
  EXPECT_EQ(decodes, 2);
  ::setenv("GQ_CACHE_DIR", "/dev/null/cache", 1);  // cannot be created: a warning, not a failure
  expect_same(load(), tiny());
  EXPECT_EQ(decodes, 3);
}

TEST_F(CacheDir, OnlyTheNewestCopiesOfADatasetAreKept) {
  for (int i = 0; i < 5; ++i) {
    write_file(source.path() / "data.bin", Bytes(i + 1, 0));
    load();
  }
  int kept = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache.path() / "cache"))
    kept += e.path().extension() == ".gqdata";
  EXPECT_EQ(kept, 3);
}

}  // namespace
}  // namespace gq::data
