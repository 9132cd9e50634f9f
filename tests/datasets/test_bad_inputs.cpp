// Malformed inputs, each built in a temp dir: every loader must fail with a DataError that names
// the file (and archive member), the byte offset and what was expected / found.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "datasets/datasets.h"
#include "tests/datasets/test_helpers.h"

namespace gq::data {
namespace {

using test::Bytes;
using test::TempDir;

constexpr std::size_t kBatchBytes = 3073u * 10000u;

// --- CIFAR-10 -------------------------------------------------------------------------------

TEST(Cifar10Bad, SyntheticDirLoads) {
  TempDir tmp;
  std::filesystem::create_directories(tmp / "cifar-10-batches-bin");
  test::write_file(tmp / "cifar-10-batches-bin" / "test_batch.bin", test::cifar_batch(10000));
  test::write_file(tmp / "cifar-10-batches-bin" / "batches.meta.txt",
                   Bytes{'a',  '\n', 'b',  '\n', 'c',  '\n', 'd',  '\n', 'e',  '\n', 'f',
                         '\n', 'g',  '\n', 'h',  '\n', 'i',  '\n', 'j',  '\n', '\n'});
  const Dataset d = load_cifar10(tmp.path(), Split::test);
  ASSERT_EQ(d.n, 10000);
  EXPECT_EQ(d.labels[3], 1);  // (3 * 7) % 10
  EXPECT_EQ(d.images[std::size_t(5) * 3072 + 100], (5 + 100) % 251);
  EXPECT_EQ(d.class_names[9], "j");
  // Train needs data_batch_1..5: the message lists the missing ones.
  EXPECT_DATA_ERROR(load_cifar10(tmp.path(), Split::train), "data_batch_1.bin", "data_batch_5.bin",
                    "not found");
}

TEST(Cifar10Bad, TruncatedBin) {
  TempDir tmp;
  Bytes b = test::cifar_batch(10000);
  b.resize(b.size() - 100);  // record 9999 loses its last 100 bytes
  test::write_file(tmp / "test_batch.bin", b);
  EXPECT_DATA_ERROR(load_cifar10(tmp.path(), Split::test), "test_batch.bin", "truncated",
                    fmt::format("byte offset {}", 9999u * 3073u), "record 9999",
                    "not a multiple of the 3073-byte record", "expected 10000 records",
                    "Re-download");
}

TEST(Cifar10Bad, TooFewRecords) {
  TempDir tmp;
  test::write_file(tmp / "test_batch.bin", test::cifar_batch(5000));
  EXPECT_DATA_ERROR(load_cifar10(tmp.path(), Split::test), "test_batch.bin",
                    "expected 10000 records = 30730000 bytes", "found 5000 records");
}

TEST(Cifar10Bad, LabelOutOfRange) {
  TempDir tmp;
  Bytes b = test::cifar_batch(10000);
  b[std::size_t(1234) * 3073] = 11;
  test::write_file(tmp / "test_batch.bin", b);
  EXPECT_DATA_ERROR(load_cifar10(tmp.path(), Split::test), "test_batch.bin", "record 1234",
                    fmt::format("byte offset {}", 1234u * 3073u), "expected a label byte 0..9",
                    "found 11");
}

TEST(Cifar10Bad, BadMetaFile) {
  TempDir tmp;
  test::write_file(tmp / "test_batch.bin", test::cifar_batch(10000));
  test::write_file(tmp / "batches.meta.txt", Bytes{'c', 'a', 't', '\n'});
  EXPECT_DATA_ERROR(load_cifar10(tmp.path(), Split::test), "batches.meta.txt", "10 lines",
                    "found 1 names");
}

TEST(Cifar10Bad, MissingDirectory) {
  TempDir tmp;
  EXPECT_DATA_ERROR(load_cifar10(tmp / "nope", Split::train), (tmp / "nope").string(), "not found");
  // An existing directory with nothing in it lists every layout it looked for.
  EXPECT_DATA_ERROR(load_cifar10(tmp.path(), Split::train), "cifar-10-batches-bin",
                    "cifar-10-binary.tar.xz", "cifar-10-binary.tar.gz", "data_batch_1.bin");
}

TEST(Cifar10Bad, ArchiveLoadsAndMemberErrorsNameTheMember) {
  TempDir tmp;
  Bytes b = test::cifar_batch(10000);
  b[std::size_t(42) * 3073] = 10;
  test::write_tar(tmp / "cifar-10-binary.tar.gz", "gzip",
                  {{"cifar-10-batches-bin/test_batch.bin", b}});
  EXPECT_DATA_ERROR(load_cifar10(tmp.path(), Split::test), "cifar-10-binary.tar.gz",
                    "[member cifar-10-batches-bin/test_batch.bin]", "record 42",
                    fmt::format("byte offset {}", 42u * 3073u), "found 10");
  b[std::size_t(42) * 3073] = 2;
  test::write_tar(tmp / "ok.tar.gz", "gzip", {{"x/test_batch.bin", b}});
  const Dataset d = load_cifar10(tmp / "ok.tar.gz", Split::test);
  EXPECT_EQ(d.n, 10000);
  EXPECT_EQ(d.labels[42], 2);
  EXPECT_EQ(d.class_names[0], "airplane");
}

TEST(Cifar10Bad, EmptyArchiveAndMissingMember) {
  TempDir tmp;
  test::write_tar(tmp / "empty.tar.xz", "xz", {});
  EXPECT_DATA_ERROR(load_cifar10(tmp / "empty.tar.xz", Split::test), "empty.tar.xz",
                    "empty archive", "test_batch.bin");
  test::write_tar(tmp / "other.tar.gz", "gzip", {{"readme.txt", Bytes{'h', 'i'}}});
  EXPECT_DATA_ERROR(load_cifar10(tmp / "other.tar.gz", Split::train), "other.tar.gz",
                    "missing CIFAR-10 member", "data_batch_1.bin", "data_batch_5.bin",
                    "1 members: readme.txt");
  // A needed member that is a link or a folder is named as such, not as missing while listed.
  test::write_tar(tmp / "links.tar.gz", "gzip",
                  {{"symlink:c/data_batch_1.bin", Bytes{'/', 'e', 't', 'c'}},
                   {"dir:c/data_batch_2.bin", {}}, {"c/readme.txt", Bytes{'h'}}});
  EXPECT_DATA_ERROR(load_cifar10(tmp / "links.tar.gz", Split::train), "links.tar.gz",
                    "c/data_batch_1.bin is a symbolic link", "c/data_batch_2.bin/ is a folder",
                    "(only regular files are read)");
  // A zero-byte file is an empty archive too.
  test::write_file(tmp / "zero.tar.xz", {});
  EXPECT_DATA_ERROR(load_cifar10(tmp / "zero.tar.xz", Split::test), "zero.tar.xz");
}

TEST(Cifar10Bad, CorruptXzArchive) {
  TempDir tmp;
  const Bytes b(kBatchBytes, 0);  // all labels 0: compresses to a few KB
  test::write_tar(tmp / "good.tar.xz", "xz", {{"cifar-10-batches-bin/test_batch.bin", b}});
  const Bytes good = test::read_bytes(tmp / "good.tar.xz");
  ASSERT_GT(good.size(), 64u);
  EXPECT_EQ(load_cifar10(tmp / "good.tar.xz", Split::test).n, 10000);

  // A damaged stream header (its CR-32 no longer matches).
  Bytes bad = good;
  bad[7] ^= 0x01;
  test::write_file(tmp / "header.tar.xz", bad);
  EXPECT_DATA_ERROR(load_cifar10(tmp / "header.tar.xz", Split::test), "header.tar.xz",
                    "corrupt or truncated archive", "libarchive error");

  // Damaged compressed data in the middle.
  bad = good;
  for (std::size_t i = good.size() / 2; i < good.size() / 2 + 8; ++i) bad[i] ^= 0x5a;
  test::write_file(tmp / "middle.tar.xz", bad);
  try {
    load_cifar10(tmp / "middle.tar.xz", Split::test);
    ADD_FAILURE() << "corrupt xz data went unnoticed";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("middle.tar.xz"), std::string::npos) << e.what();
    if (std::getenv("GQ_TEST_SHOW_ERRORS")) std::printf("DataError: %s\n", e.what());
  }

  // Truncated: the second half is missing.
  bad.assign(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  test::write_file(tmp / "cut.tar.xz", bad);
  EXPECT_DATA_ERROR(load_cifar10(tmp / "cut.tar.xz", Split::test), "cut.tar.xz",
                    "corrupt or truncated archive", "test_batch.bin", "compressed bytes read",
                    "xz");
}

// --- IDX / MNIST ----------------------------------------------------------------------------

Bytes images_idx(std::uint32_t n) {
  Bytes px(std::size_t(n) * 4);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i);
  return test::idx(kIdxImagesMagic, {n, 2, 2}, px);
}
Bytes labels_idx(std::uint32_t n) {
  Bytes l(n);
  for (std::uint32_t i = 0; i < n; ++i) l[i] = static_cast<std::uint8_t>(i % 10);
  return test::idx(kIdxLabelsMagic, {n}, l);
}

TEST(MnistBad, RawIdxAccepted) {
  TempDir tmp;
  test::write_file(tmp / "t10k-images-idx3-ubyte", images_idx(20));
  test::write_file(tmp / "t10k-labels-idx1-ubyte", labels_idx(20));
  const Dataset d = load_mnist(tmp.path(), Split::test);
  EXPECT_EQ(d.n, 20);
  EXPECT_EQ(d.height, 2);
  EXPECT_EQ(d.width, 2);
  EXPECT_EQ(d.labels[13], 3);
  EXPECT_EQ(d.images[17], 17);
  // The gz file wins over the raw one when both are there; both parse the same.
  test::write_file(tmp / "t10k-images-idx3-ubyte.gz", test::gzip(images_idx(20)));
  EXPECT_EQ(load_mnist(tmp.path(), Split::test).images, d.images);
  const IdxArray a = read_idx(tmp / "t10k-images-idx3-ubyte.gz");
  EXPECT_EQ(a.magic, kIdxImagesMagic);
  EXPECT_EQ(a.dims, (std::vector<std::uint32_t>{20, 2, 2}));
  EXPECT_EQ(a.item_size(), 4u);
}

TEST(MnistBad, WrongMagic) {
  TempDir tmp;
  Bytes img = images_idx(20);
  img[3] = 0x04;  // 0x00000804
  test::write_file(tmp / "train-images-idx3-ubyte", img);
  test::write_file(tmp / "train-labels-idx1-ubyte", labels_idx(20));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte",
                    "wrong IDX magic", "byte offset 0", "expected 0x00000803",
                    "found 0x00000804 (unsigned byte, 4 dimensions)");
  // Not IDX at all (e.g. an HTML error page saved under the IDX name).
  test::write_file(tmp / "train-images-idx3-ubyte", Bytes{'<', 'h', 't', 'm', 'l', '>'});
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte",
                    "first two bytes must be zero");
}

TEST(MnistBad, CountMismatch) {
  TempDir tmp;
  test::write_file(tmp / "train-images-idx3-ubyte", images_idx(20));
  test::write_file(tmp / "train-labels-idx1-ubyte", labels_idx(19));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-labels-idx1-ubyte",
                    "train-images-idx3-ubyte", "byte offset 4", "expected 20 labels",
                    "found 19 labels");
}

TEST(MnistBad, TruncatedBody) {
  TempDir tmp;
  Bytes img = images_idx(20);
  img.resize(img.size() - 3);  // item 19 has 1 of 4 bytes
  test::write_file(tmp / "train-images-idx3-ubyte", img);
  test::write_file(tmp / "train-labels-idx1-ubyte", labels_idx(20));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte",
                    "truncated IDX data", "header says 20 items", "item 19 is incomplete",
                    fmt::format("byte offset {}", 16 + 19 * 4), "expected 80 data bytes",
                    "found 77 data bytes");
}

TEST(MnistBad, LabelOutOfRange) {
  TempDir tmp;
  Bytes lab = labels_idx(20);
  lab[8 + 5] = 10;
  test::write_file(tmp / "train-images-idx3-ubyte", images_idx(20));
  test::write_file(tmp / "train-labels-idx1-ubyte.gz", test::gzip(lab));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-labels-idx1-ubyte.gz", "item 5",
                    "byte offset 13 of the decompressed data", "expected a label 0..9", "found 10");
}

TEST(MnistBad, TruncatedGz) {
  TempDir tmp;
  Bytes img = images_idx(5000);  // 20 KB of data
  Bytes gz = test::gzip(img);
  gz.resize(gz.size() / 2);
  test::write_file(tmp / "train-images-idx3-ubyte.gz", gz);
  test::write_file(tmp / "train-labels-idx1-ubyte", labels_idx(5000));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte.gz",
                    "truncated gzip stream", fmt::format("byte offset {}", gz.size()),
                    "8-byte CRC-32/size trailer");
  // Only the trailer is missing.
  gz = test::gzip(img);
  gz.resize(gz.size() - 8);
  test::write_file(tmp / "train-images-idx3-ubyte.gz", gz);
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte.gz",
                    "truncated gzip stream");
}

TEST(MnistBad, CorruptGz) {
  TempDir tmp;
  Bytes gz = test::gzip(images_idx(5000));
  gz[gz.size() - 6] ^= 0xff;  // a CRC-32 byte
  test::write_file(tmp / "train-images-idx3-ubyte.gz", gz);
  test::write_file(tmp / "train-labels-idx1-ubyte", labels_idx(5000));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte.gz",
                    "corrupt gzip stream", "incorrect data check");
  // A .gz name over raw content.
  test::write_file(tmp / "train-images-idx3-ubyte.gz", images_idx(5000));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-images-idx3-ubyte.gz",
                    "not a gzip file", "expected gzip magic bytes 1f 8b", "found 00 00");
}

TEST(MnistBad, MissingFiles) {
  TempDir tmp;
  EXPECT_DATA_ERROR(load_mnist(tmp / "absent", Split::train), (tmp / "absent").string(),
                    "not found");
  test::write_file(tmp / "train-images-idx3-ubyte", images_idx(20));
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train), "train-labels-idx1-ubyte.gz",
                    (tmp / "train-labels-idx1-ubyte").string(), "Re-download");
  EXPECT_DATA_ERROR(load_mnist(tmp.path(), Split::train, "fashion-mnist"), "dataset-fashion-mnist");
}

TEST(IdxParse, HeaderChecks) {
  EXPECT_DATA_ERROR(parse_idx(Bytes{0, 0}, "x.idx"), "x.idx", "truncated IDX header",
                    "2 bytes in all");
  EXPECT_DATA_ERROR(parse_idx(Bytes{0, 0, 8, 3, 0, 0, 0, 1}, "y.idx"), "y.idx",
                    "16 header bytes for 3 dimensions");
  Bytes extra = test::idx(kIdxLabelsMagic, {3}, Bytes{1, 2, 3, 4});
  EXPECT_DATA_ERROR(parse_idx(extra, "z.idx"), "z.idx", "trailing bytes", "byte offset 11",
                    "1 extra");
  EXPECT_DATA_ERROR(parse_idx(test::idx(0x00000d01, {1}, Bytes{0, 0, 0, 0}), "f.idx"), "f.idx",
                    "float");
  const IdxArray ok = parse_idx(test::idx(kIdxLabelsMagic, {3}, Bytes{1, 2, 3}), "ok.idx");
  EXPECT_EQ(ok.count(), 3u);
  EXPECT_EQ(ok.data, (Bytes{1, 2, 3}));
}

}  // namespace
}  // namespace gq::data
