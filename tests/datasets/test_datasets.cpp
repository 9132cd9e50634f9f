// Real-data checks: the datasets under $GQ_DATA_DIR (shared/data) and the Debian Fashion-MNIST.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "datasets/datasets.h"
#include "tests/datasets/test_helpers.h"

namespace gq::data {
namespace {

using test::data_dir;

#define REQUIRE_DATA_DIR()                                          \
  if (data_dir().empty())                                           \
  GTEST_SKIP() << "GQ_DATA_DIR is not set: real-data test skipped " \
                  "(ctest sets it to <repo>/../shared/data)"

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double mean_pixel(const Dataset& d) {
  // Sum in 64-bit integers: exact.
  std::uint64_t sum = 0;
  for (auto v : d.images) sum += v;
  return double(sum) / double(d.images.size());
}

// CIFAR-10 from the real .tar.xz, both splits in one pass, once per test binary.
const TrainTest& cifar() {
  static const TrainTest tt = [] {
    const auto path = find_dataset(data_dir(), "cifar10");
    const auto t0 = std::chrono::steady_clock::now();
    TrainTest loaded = load_cifar10_all(path);
    std::printf("[timing] load_cifar10_all(%s): %.2f s\n", path.c_str(), seconds_since(t0));
    return loaded;
  }();
  return tt;
}

TEST(Cifar10Real, FindsTheArchive) {
  REQUIRE_DATA_DIR();
  EXPECT_EQ(find_dataset(data_dir(), "cifar10"), data_dir() / "cifar10" / "cifar-10-binary.tar.xz");
}

TEST(Cifar10Real, TrainSplit) {
  REQUIRE_DATA_DIR();
  const Dataset& d = cifar().train;
  EXPECT_EQ(d.name, "cifar10");
  EXPECT_EQ(d.split, "train");
  ASSERT_EQ(d.n, 50000);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.height, 32);
  EXPECT_EQ(d.width, 32);
  EXPECT_EQ(d.sample_size(), 3072u);
  EXPECT_EQ(d.num_classes, 10);
  ASSERT_EQ(d.images.size(), 50000u * 3072u);
  ASSERT_EQ(d.labels.size(), 50000u);
  EXPECT_EQ(d.class_counts(), std::vector<std::int64_t>(10, 5000));
  const std::vector<std::int32_t> first(d.labels.begin(), d.labels.begin() + 10);
  EXPECT_EQ(first, (std::vector<std::int32_t>{6, 9, 9, 4, 1, 1, 2, 7, 8, 3}));
  // data_batch_2 starts at record 10000 (README: 1 6 6 8 8 3 4 6 0 6).
  const std::vector<std::int32_t> second(d.labels.begin() + 10000, d.labels.begin() + 10010);
  EXPECT_EQ(second, (std::vector<std::int32_t>{1, 6, 6, 8, 8, 3, 4, 6, 0, 6}));
  // Per-batch class counts of data_batch_1 (README).
  std::vector<int> b1(10, 0);
  for (int i = 0; i < 10000; ++i) ++b1[std::size_t(d.labels[std::size_t(i)])];
  EXPECT_EQ(b1, (std::vector<int>{1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981}));
  EXPECT_EQ(d.class_names,
            (std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog",
                                      "frog", "horse", "ship", "truck"}));
  const double mean = mean_pixel(d);
  std::printf("CIFAR-10 train mean pixel %.4f\n", mean);
  EXPECT_NEAR(mean, 120.7, 0.3);
}

TEST(Cifar10Real, TestSplit) {
  REQUIRE_DATA_DIR();
  const Dataset& d = cifar().test;
  EXPECT_EQ(d.split, "test");
  ASSERT_EQ(d.n, 10000);
  ASSERT_EQ(d.images.size(), 10000u * 3072u);
  EXPECT_EQ(d.class_counts(), std::vector<std::int64_t>(10, 1000));
  const std::vector<std::int32_t> first(d.labels.begin(), d.labels.begin() + 10);
  EXPECT_EQ(first, (std::vector<std::int32_t>{3, 8, 8, 0, 6, 6, 1, 6, 3, 1}));
  EXPECT_EQ(d.class_names.size(), 10u);
  EXPECT_EQ(d.class_names[9], "truck");
  std::printf("CIFAR-10 test mean pixel %.4f\n", mean_pixel(d));
  EXPECT_NEAR(mean_pixel(d), 120.7, 1.5);
}

TEST(MnistReal, TrainAndTest) {
  REQUIRE_DATA_DIR();
  const auto dir = find_dataset(data_dir(), "mnist");
  EXPECT_EQ(dir, data_dir() / "mnist");
  auto t0 = std::chrono::steady_clock::now();
  const Dataset train = load_mnist(dir, Split::train);
  std::printf("[timing] load_mnist(train): %.2f s\n", seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  const Dataset test = load_mnist(dir, Split::test);
  std::printf("[timing] load_mnist(test): %.2f s\n", seconds_since(t0));

  ASSERT_EQ(train.n, 60000);
  EXPECT_EQ(train.channels, 1);
  EXPECT_EQ(train.height, 28);
  EXPECT_EQ(train.width, 28);
  EXPECT_EQ(train.sample_size(), 784u);
  EXPECT_EQ(train.images.size(), 60000u * 784u);
  EXPECT_EQ(train.class_counts(), (std::vector<std::int64_t>{5923, 6742, 5958, 6131, 5842, 5421,
                                                             5918, 6265, 5851, 5949}));
  EXPECT_NEAR(mean_pixel(train), 33.3184, 5e-4);
  EXPECT_EQ(train.class_names.front(), "0");

  ASSERT_EQ(test.n, 10000);
  EXPECT_EQ(test.split, "test");
  EXPECT_EQ(test.class_counts(),
            (std::vector<std::int64_t>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}));
  EXPECT_NEAR(mean_pixel(test), 33.7912, 5e-4);
}

TEST(FashionMnistReal, DebianPackage) {
  const std::filesystem::path dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << dir << " is absent (apt-get install dataset-fashion-mnist)";
  }
  EXPECT_EQ(find_dataset("/nonexistent-root", "fashion-mnist"), dir);
  auto t0 = std::chrono::steady_clock::now();
  const Dataset train = load_mnist(dir, Split::train, "fashion-mnist");
  const Dataset test = load_mnist(dir, Split::test, "fashion-mnist");
  std::printf("[timing] load_mnist(fashion-mnist, train+test): %.2f s\n", seconds_since(t0));
  ASSERT_EQ(train.n, 60000);
  ASSERT_EQ(test.n, 10000);
  EXPECT_EQ(train.height, 28);
  EXPECT_EQ(train.class_counts(), std::vector<std::int64_t>(10, 6000));
  EXPECT_EQ(test.class_counts(), std::vector<std::int64_t>(10, 1000));
  EXPECT_EQ(train.name, "fashion-mnist");
  EXPECT_EQ(train.class_names[0], "T-shirt/top");
  EXPECT_EQ(train.class_names[9], "Ankle boot");
}

void expect_normalised_rows(const Dataset& d) {
  ASSERT_EQ(d.features.size(), std::size_t(d.n) * std::size_t(d.feature_dim));
  int zero_rows = 0;
  for (int r = 0; r < d.n; ++r) {
    double norm2 = 0;
    for (int j = 0; j < d.feature_dim; ++j) {
      const float v = d.features[std::size_t(r) * std::size_t(d.feature_dim) + std::size_t(j)];
      ASSERT_TRUE(std::isfinite(v)) << "row " << r;
      ASSERT_GE(v, 0.0f);
      norm2 += double(v) * v;
    }
    if (norm2 == 0) {
      ++zero_rows;
    } else {
      ASSERT_NEAR(norm2, 1.0, 1e-4) << "row " << r;
    }
  }
  std::printf("reuters %s: %d rows with no vocabulary word\n", d.split.c_str(), zero_rows);
}

TEST(Reuters21578Real, ModApteTop10) {
  REQUIRE_DATA_DIR();
  const auto path = find_dataset(data_dir(), "reuters21578");
  EXPECT_EQ(path, data_dir() / "reuters21578" / "reuters21578.tar.xz");
  auto t0 = std::chrono::steady_clock::now();
  const TrainTest a = load_reuters21578_all(path);
  std::printf("[timing] load_reuters21578_all: %.2f s\n", seconds_since(t0));
  const TrainTest b = load_reuters21578_all(path);

  for (const Dataset* d : {&a.train, &a.test}) {
    EXPECT_EQ(d->name, "reuters21578");
    EXPECT_EQ(d->num_classes, 10);
    EXPECT_EQ(d->feature_dim, 2000);
    EXPECT_EQ(d->sample_size(), 2000u);
    EXPECT_TRUE(d->images.empty());
    ASSERT_EQ(d->labels.size(), std::size_t(d->n));
    for (auto l : d->labels) {
      ASSERT_GE(l, 0);
      ASSERT_LT(l, 10);
    }
    expect_normalised_rows(*d);
    const auto counts = d->class_counts();
    std::printf("reuters %s n=%d:", d->split.c_str(), d->n);
    for (int c = 0; c < 10; ++c) {
      std::printf(" %s=%lld", d->class_names[std::size_t(c)].c_str(),
                  static_cast<long long>(counts[std::size_t(c)]));
      EXPECT_GT(counts[std::size_t(c)], 0) << d->class_names[std::size_t(c)];
    }
    std::printf("\n");
  }
  // Classes by train frequency; earn and acq are by far the largest (README: 2877 / 1650 with
  // multi-label documents included).
  EXPECT_EQ(a.train.class_names[0], "earn");
  EXPECT_EQ(a.train.class_names[1], "acq");
  EXPECT_EQ(a.train.class_names, a.test.class_names);
  EXPECT_EQ(a.train.feature_names, a.test.feature_names);
  const auto counts = a.train.class_counts();
  EXPECT_TRUE(std::is_sorted(counts.rbegin(), counts.rend()));
  // Single-label docs are a subset of the ModApte docs with topics (README: 7775 / 3019).
  EXPECT_GT(a.train.n, 5000);
  EXPECT_LT(a.train.n, 7775);
  EXPECT_GT(a.test.n, 2000);
  EXPECT_LT(a.test.n, 3019);

  // Deterministic: a second load is identical.
  EXPECT_EQ(a.train.feature_names, b.train.feature_names);
  EXPECT_EQ(a.train.labels, b.train.labels);
  EXPECT_EQ(a.train.features, b.train.features);
  EXPECT_EQ(a.test.labels, b.test.labels);
  EXPECT_EQ(a.test.features, b.test.features);
  std::printf("reuters vocabulary starts:");
  for (int i = 0; i < 12; ++i) std::printf(" %s", a.train.feature_names[std::size_t(i)].c_str());
  std::printf("\n");
}

TEST(Reuters21578Real, SmallerOptionsAndSingleSplit) {
  REQUIRE_DATA_DIR();
  const auto path = find_dataset(data_dir(), "reuters21578");
  const Dataset test = load_reuters21578(path, Split::test, ReutersOptions{8, 500});
  EXPECT_EQ(test.split, "test");
  EXPECT_EQ(test.num_classes, 8);
  EXPECT_EQ(test.feature_dim, 500);
  EXPECT_EQ(test.class_names.size(), 8u);
  expect_normalised_rows(test);
}

TEST(FindDataset, MissingListsCandidates) {
  test::TempDir tmp;
  EXPECT_DATA_ERROR(find_dataset(tmp.path(), "cifar10"), "cifar10", "cifar-10-binary.tar.xz",
                    "cifar-10-batches-bin");
  EXPECT_DATA_ERROR(find_dataset(tmp.path(), "mnist"), (tmp.path() / "mnist").string());
  EXPECT_DATA_ERROR(find_dataset(tmp.path(), "reuters21578"), "reuters21578.tar.xz");
  EXPECT_DATA_ERROR(find_dataset(tmp.path(), "imagenet"), "unknown dataset name 'imagenet'");
}

}  // namespace
}  // namespace gq::data
