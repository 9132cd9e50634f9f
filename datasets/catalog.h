// The datasets --dataset names, each with its folder under the data root and its reader. Adding
// one is one line in catalog.cpp's table (and its reader).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace gq::data {

// Finds `name` under `root` (find_dataset), reads both splits and checks they have one shape.
// Throws gq::Error naming the valid names for an unknown one, DataError for a bad file.
TrainTest load_dataset(const std::string& name, const std::filesystem::path& root);
std::vector<std::string> dataset_names();

}  // namespace gq::data
