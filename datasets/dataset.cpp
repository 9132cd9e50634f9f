#include "datasets/dataset.h"

#include <cstdlib>
#include <functional>

#include <fmt/format.h>

#include "datasets/io.h"
#include "runtime/fnv1a.h"

namespace gq::data {

std::size_t Dataset::sample_size() const {
  if (feature_dim > 0) return std::size_t(feature_dim);
  return std::size_t(channels) * std::size_t(height) * std::size_t(width);
}

std::vector<std::int64_t> Dataset::class_counts() const {
  std::vector<std::int64_t> counts(std::size_t(std::max(num_classes, 0)), 0);
  for (auto l : labels) {
    if (l >= 0 && l < num_classes) ++counts[std::size_t(l)];
  }
  return counts;
}

std::uint64_t Dataset::digest() const {
  const int shape[] = {n, channels, height, width, feature_dim, num_classes};
  std::uint64_t h = fnv1a(shape, sizeof shape);
  h = fnv1a(images.data(), images.size(), h);
  h = fnv1a(features.data(), features.size() * sizeof(float), h);
  return fnv1a(labels.data(), labels.size() * sizeof(std::int32_t), h);
}

std::string_view split_name(Split split) {
  return split == Split::train ? "train" : "test";
}

void check_same_shape(const Dataset& train, const Dataset& test,
                      const std::filesystem::path& where) {
  auto shape = [](const Dataset& d) {
    return d.feature_dim > 0 ? fmt::format("{} features, {} classes", d.feature_dim, d.num_classes)
                             : fmt::format("{}x{}x{} images, {} classes", d.channels, d.height,
                                           d.width, d.num_classes);
  };
  if (shape(train) != shape(test)) {
    throw DataError(
        fmt::format("{}: the {} split does not match the {} split: expected {}, found {}. "
                    "Both splits must come from the same dataset.",
                    where.string(), test.split, train.split, shape(train), shape(test)),
        where.string());
  }
}

std::filesystem::path data_root(const std::filesystem::path& fallback) {
  const char* env = std::getenv("GQ_DATA_DIR");
  return env && *env ? std::filesystem::path(env) : fallback;
}

std::filesystem::path find_dataset(const std::filesystem::path& root, std::string_view name) {
  namespace fs = std::filesystem;
  // Each candidate: a path and a test that it holds the data.
  struct Candidate {
    fs::path path;
    std::function<bool(const fs::path&)> holds;
  };
  auto has_any = [](std::vector<std::string> files) {
    return [files = std::move(files)](const fs::path& p) {
      std::error_code ec;
      for (const auto& f : files) {
        // exists, not is_regular_file: a FIFO or device in its place gets the loader's message.
        if (fs::exists(p / f, ec)) return true;
      }
      return false;
    };
  };
  auto is_file = [](const fs::path& p) {
    std::error_code ec;
    return fs::exists(p, ec) && !fs::is_directory(p, ec);
  };
  std::vector<Candidate> cands;
  std::string hint;
  if (name == "cifar10") {
    auto bins = has_any({"data_batch_1.bin", "test_batch.bin"});
    cands = {{root / "cifar10" / "cifar-10-batches-bin", bins},
             {root / "cifar-10-batches-bin", bins},
             {root / "cifar10" / "cifar-10-binary.tar.xz", is_file},
             {root / "cifar10" / "cifar-10-binary.tar.gz", is_file},
             {root / "cifar-10-binary.tar.xz", is_file},
             {root / "cifar-10-binary.tar.gz", is_file}};
    hint = "Put the CIFAR-10 binary version there: tools/get-data.sh cifar10 (or --from FILE to copy "
           "an archive you have); docs/DATASETS.md lists the layouts read.";
  } else if (name == "mnist" || name == "fashion-mnist") {
    auto idx = has_any({"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte",
                        "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"});
    cands = {{root / std::string(name), idx}};
    if (name == "fashion-mnist") {
      cands.push_back({root / "fashion_mnist", idx});
      cands.push_back({"/usr/share/datasets/fashion-mnist", idx});
      hint = "Install it with apt-get install dataset-fashion-mnist.";
    } else {
      hint = "Put the MNIST IDX files there: tools/get-data.sh mnist (or --from FOLDER); "
             "docs/DATASETS.md lists the layouts read.";
    }
  } else if (name == "reuters21578") {
    auto sgm = has_any({"reut2-000.sgm"});
    cands = {{root / "reuters21578" / "reuters21578", sgm},
             {root / "reuters21578", sgm},
             {root / "reuters21578" / "reuters21578.tar.xz", is_file},
             {root / "reuters21578" / "reuters21578.tar.gz", is_file},
             {root / "reuters21578.tar.xz", is_file}};
    hint = "Put reuters21578.tar.xz there (docs/DATASETS.md lists the layouts read).";
  } else {
    throw DataError(fmt::format("find_dataset: unknown dataset name '{}': expected cifar10, mnist, "
                                "fashion-mnist or reuters21578",
                                name),
                    root.string());
  }
  std::vector<fs::path> tried;
  for (const auto& c : cands) {
    if (c.holds(c.path)) return c.path;
    tried.push_back(c.path);
  }
  io::fail_missing(fmt::format("dataset '{}' under {}", name, root.string()), tried, hint);
}

}  // namespace gq::data
