// gq::data: in-memory labelled datasets and the errors their readers raise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/error.h"

namespace gq::data {

// An in-memory labelled dataset. Images are uint8 NCHW (C=3 for CIFAR-10, 1 for (Fashion-)MNIST);
// text datasets store float features [n x dim] instead (images empty).
struct Dataset {
  std::string name;
  std::string split;                               // "train" / "test"
  int n = 0, channels = 0, height = 0, width = 0;  // images
  int feature_dim = 0;                             // text features
  int num_classes = 0;
  std::vector<std::uint8_t> images;  // n*C*H*W
  std::vector<float> features;       // n*feature_dim
  std::vector<std::int32_t> labels;  // n, each in [0, num_classes)
  std::vector<std::string> class_names;
  std::vector<std::string> feature_names;  // text datasets: the vocabulary (feature_dim words)

  // C*H*W for image datasets, feature_dim for text datasets.
  std::size_t sample_size() const;
  // Number of samples of each class (size num_classes).
  std::vector<std::int64_t> class_counts() const;
  // A fingerprint of the shape, samples and labels (FNV-1a): equal data, equal digests.
  std::uint64_t digest() const;
};

enum class Split { train, test };
std::string_view split_name(Split split);  // "train" / "test"

// Train and test splits loaded together (one pass over an archive, one shared vocabulary).
struct TrainTest {
  Dataset train;
  Dataset test;
};

// A dataset file (or archive member) that is missing, truncated, corrupt or malformed. what() names
// the file (and the archive member), the byte offset where known, what was expected, what was
// found, and what to do about it.
class DataError : public gq::Error {
 public:
  DataError(const std::string& message, std::string file, std::string member = {},
            std::int64_t offset = -1)
      : gq::Error(message), file_(std::move(file)), member_(std::move(member)), offset_(offset) {}
  const std::string& file() const { return file_; }      // path on disk
  const std::string& member() const { return member_; }  // archive member, or empty
  std::int64_t offset() const { return offset_; }        // byte offset, -1 when not applicable

 private:
  std::string file_;
  std::string member_;
  std::int64_t offset_;
};

// Checks that two splits hold samples of one shape (C x H x W, or feature_dim) and the same number
// of classes: code that sizes buffers from the train split reads the test split with them. Throws
// DataError naming `where` (the dataset's path) and both shapes.
void check_same_shape(const Dataset& train, const Dataset& test,
                      const std::filesystem::path& where);

// The data root for tests and tools: $GQ_DATA_DIR when set and non-empty, else `fallback`.
std::filesystem::path data_root(const std::filesystem::path& fallback = "../shared/data");

// Finds a dataset under a data root and returns the path to pass to its loader. Names: "cifar10",
// "mnist", "fashion-mnist", "reuters21578". fashion-mnist also looks in
// /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist). Throws DataError
// listing every place it looked when nothing is found. Look-up order: see docs/DATASETS.md.
std::filesystem::path find_dataset(const std::filesystem::path& root, std::string_view name);

}  // namespace gq::data
