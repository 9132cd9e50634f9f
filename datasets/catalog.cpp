#include "datasets/catalog.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "datasets/datasets.h"
#include "datasets/decoded_cache.h"
#include "runtime/choices.h"
#include "runtime/error.h"

namespace gq::data {
namespace {

// Decoding CIFAR-10's xz archive takes ~15 s: its decoded copy is cached (decoded_cache.h).
TrainTest cifar10(const std::filesystem::path& where, const std::string& name) {
  return load_through_cache(name, where, [&] { return load_cifar10_all(where); });
}
TrainTest idx(const std::filesystem::path& where, const std::string& name) {
  return {load_mnist(where, Split::train, name), load_mnist(where, Split::test, name)};
}
TrainTest reuters(const std::filesystem::path& where, const std::string&) {
  return load_reuters21578_all(where);
}

struct Entry {
  const char* name;
  const char* folder;  // find_dataset's name
  TrainTest (*load)(const std::filesystem::path& where, const std::string& name);
};
constexpr Entry kDatasets[] = {
    {"cifar10", "cifar10", cifar10},
    {"mnist", "mnist", idx},
    {"fashion-mnist", "fashion-mnist", idx},
    {"reuters", "reuters21578", reuters},  // Reuters-21578, bag of words
};
const bool kRegistered = register_choices("dataset", dataset_names());  // --dataset

}  // namespace

std::vector<std::string> dataset_names() {
  std::vector<std::string> names;
  for (const Entry& e : kDatasets) names.emplace_back(e.name);
  return names;
}

TrainTest load_dataset(const std::string& name, const std::filesystem::path& root) {
  for (const Entry& e : kDatasets) {
    if (name != e.name) continue;
    const std::filesystem::path where = find_dataset(root, e.folder);
    TrainTest tt = e.load(where, name);
    // Buffers are sized from the train split; a test split of another shape would be read past them.
    check_same_shape(tt.train, tt.test, where);
    return tt;
  }
  throw Error(fmt::format("unknown --dataset '{}'; valid: {}", name, fmt::join(dataset_names(), ", ")));
}

}  // namespace gq::data
