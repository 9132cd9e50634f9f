// Hostile inputs (issue 14): sizes that overflow or pass the caps, special files where a regular
// file is meant, splits of different shapes. Each must end in a DataError that names the file and
// what was expected, before anything large is allocated, and never block.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <fmt/format.h>

#include "datasets/datasets.h"
#include "datasets/io.h"
#include "tests/datasets/test_helpers.h"

namespace gq::data {
namespace {

using test::Bytes;
using test::TempDir;

Bytes labels_idx(std::uint32_t n) {
  return test::idx(kIdxLabelsMagic, {n}, Bytes(n, 1));
}

TEST(HostileIdx, DimensionsThatWrapAround2Pow64AreRefused) {
  // 2^20 x 2^20 x 2^24 = 2^64, which wraps to 0 in 64-bit arithmetic: an empty body would match.
  const Bytes header = test::idx(kIdxImagesMagic, {1u << 20, 1u << 20, 1u << 24}, {});
  EXPECT_DATA_ERROR(parse_idx(header, "wrap.idx"), "wrap.idx", "implausible IDX dimensions",
                    "1048576 x 1048576 x 16777216", "more than 2^64 bytes", "IDX size cap");
  // Count 0 but items of (2^32-1)^3 bytes: the item size alone overflows.
  const Bytes item = test::idx(0x00000804, {0, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {});
  EXPECT_DATA_ERROR(parse_idx(item, "item.idx"), "item.idx", "implausible IDX dimensions");
  // Within 2^64 but past the 1 GiB cap: refused from the header alone.
  const Bytes big = test::idx(kIdxImagesMagic, {60000, 1000, 1000}, {});
  EXPECT_DATA_ERROR(parse_idx(big, "big.idx"), "big.idx", "60000 x 1000 x 1000",
                    "60000000000 bytes", "at most 1.0 GiB");
}

TEST(HostileIdx, TrainAndTestOfDifferentShapesAreRefused) {
  TempDir tmp;
  test::write_file(tmp / "train-images-idx3-ubyte",
                   test::idx(kIdxImagesMagic, {4, 2, 2}, Bytes(16)));
  test::write_file(tmp / "train-labels-idx1-ubyte", labels_idx(4));
  test::write_file(tmp / "t10k-images-idx3-ubyte",
                   test::idx(kIdxImagesMagic, {4, 3, 3}, Bytes(36)));
  test::write_file(tmp / "t10k-labels-idx1-ubyte", labels_idx(4));
  const Dataset train = load_mnist(tmp.path(), Split::train);
  const Dataset test = load_mnist(tmp.path(), Split::test);
  EXPECT_DATA_ERROR(check_same_shape(train, test, tmp.path()), tmp.path().string(),
                    "the test split does not match the train split", "expected 1x2x2 images",
                    "found 1x3x3 images");
  EXPECT_NO_THROW(check_same_shape(train, train, tmp.path()));
}

TEST(HostileFiles, SpecialFilesAreRefusedWithoutBlocking) {
  TempDir tmp;
  ASSERT_EQ(::mkfifo((tmp / "train-images-idx3-ubyte").c_str(), 0600), 0);
  test::write_file(tmp / "train-labels-idx1-ubyte", labels_idx(4));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte",
                    "not a regular file", "found a FIFO (named pipe)");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));  // did not block
  EXPECT_DATA_ERROR(read_idx("/dev/zero"), "/dev/zero", "found a character device");
  std::filesystem::create_directories(tmp / "dir");
  EXPECT_DATA_ERROR(read_idx(tmp / "dir"), "found a directory");
  // A FIFO named like an archive, and a FIFO in a batches folder.
  ASSERT_EQ(::mkfifo((tmp / "cifar.tar.xz").c_str(), 0600), 0);
  EXPECT_DATA_ERROR(load_cifar10(tmp / "cifar.tar.xz", Split::test), "cifar.tar.xz",
                    "found a FIFO");
  std::filesystem::create_directories(tmp / "bins");
  ASSERT_EQ(::mkfifo((tmp / "bins" / "test_batch.bin").c_str(), 0600), 0);
  EXPECT_DATA_ERROR(load_cifar10(tmp / "bins", Split::test), "test_batch.bin", "found a FIFO");
}

TEST(HostileFiles, FilesPastTheCapAreRefusedBeforeReading) {
  TempDir tmp;
  // Sparse: 2 GiB on paper, nothing on disk. Reading it whole would allocate 2 GiB.
  {
    std::FILE* f = std::fopen((tmp / "train-images-idx3-ubyte").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(::ftruncate(fileno(f), off_t(2) << 30), 0);
    std::fclose(f);
  }
  EXPECT_DATA_ERROR(read_idx(tmp / "train-images-idx3-ubyte"), "train-images-idx3-ubyte",
                    "file too large", "at most 1.0 GiB for an IDX file", "found 2.0 GiB");
  std::filesystem::create_directories(tmp / "bins");
  {
    std::FILE* f = std::fopen((tmp / "bins" / "test_batch.bin").c_str(), "wb");
    ASSERT_EQ(::ftruncate(fileno(f), off_t(100) << 20), 0);
    std::fclose(f);
  }
  EXPECT_DATA_ERROR(load_cifar10(tmp / "bins", Split::test), "test_batch.bin", "file too large",
                    "at most 64.0 MiB");
}

TEST(HostileGzip, DecompressingPastTheCapStops) {
  const Bytes zeros(1 << 20, 0);  // 1 MiB of zeros: about 1 KB of gzip
  const Bytes gz = test::gzip(zeros);
  const io::Origin origin{"bomb.gz", {}, false, {}};
  EXPECT_EQ(io::gunzip(gz, origin, zeros.size()).size(), zeros.size());  // exactly the cap: fine
  EXPECT_DATA_ERROR(io::gunzip(gz, origin, zeros.size() - 1), "bomb.gz",
                    "gzip stream decompresses to too much data", "at most 1048575 bytes");
}

TEST(HostileArchive, MemberLargerThanItsCapIsRefusedFromTheHeader) {
  TempDir tmp;
  test::write_tar(tmp / "a.tar", "", {{"x/test_batch.bin", Bytes(5000, 1)}});
  io::ArchiveReader reader(tmp / "a.tar", "");
  io::ArchiveReader::Entry e;
  ASSERT_TRUE(reader.next(e));
  EXPECT_DATA_ERROR(reader.read(4999), "a.tar", "[member x/test_batch.bin]",
                    "archive member too large", "at most 4999 bytes",
                    "5000 bytes in its tar header");
  // A forged header claiming 8 GiB (octal 77777777777) over a few bytes of data.
  Bytes forged = test::read_bytes(tmp / "a.tar");
  std::snprintf(reinterpret_cast<char*>(forged.data()) + 124, 12, "%s", "77777777777");
  unsigned sum = 0;
  std::fill(forged.begin() + 148, forged.begin() + 156, ' ');
  for (int i = 0; i < 512; ++i) sum += forged[std::size_t(i)];
  std::snprintf(reinterpret_cast<char*>(forged.data()) + 148, 8, "%06o", sum);
  test::write_file(tmp / "cifar-10-binary.tar", forged);
  EXPECT_DATA_ERROR(load_cifar10(tmp / "cifar-10-binary.tar", Split::test), "cifar-10-binary.tar",
                    "archive member too large", "8589934591 bytes in its tar header");
}

TEST(HostileReuters, NewidZeroAndManyEmptyDocuments) {
  const std::string zero =
      R"(<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" NEWID="0"><TEXT>x</TEXT></REUTERS>)";
  EXPECT_DATA_ERROR(parse_reuters_sgml(
                        {reinterpret_cast<const std::uint8_t*>(zero.data()), zero.size()}, "r.sgm"),
                    "r.sgm", "invalid NEWID", "NEWID=\"0\"");
  // 50000 documents without <TOPICS> or <TEXT>: each search for them must stay inside its
  // document (searching to the end of the file for each one is quadratic in the file size).
  std::string many;
  for (int i = 1; i <= 50000; ++i)
    many += fmt::format(R"(<REUTERS TOPICS="NO" LEWISSPLIT="TEST" NEWID="{}"></REUTERS>)", i);
  const auto t0 = std::chrono::steady_clock::now();
  const auto docs = parse_reuters_sgml(
      {reinterpret_cast<const std::uint8_t*>(many.data()), many.size()}, "many.sgm");
  EXPECT_EQ(docs.size(), 50000u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace gq::data
