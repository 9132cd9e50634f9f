// The validation split (--val-size, --val-pick): which samples it holds out, that each sample's
// pixels travel with its label, and that a split that would empty a class is refused by name.
#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "runtime/error.h"
#include "runtime/train/training_data.h"

namespace gq::train {
namespace {

// n one-pixel images whose pixel is the sample's index; labels sorted by class like a file that
// lists its samples class by class (a tail split of it would be one class only).
data::Dataset sorted_by_class(int n, int classes) {
  data::Dataset d;
  d.n = n, d.channels = d.height = d.width = 1, d.num_classes = classes;
  d.class_names.resize(classes);
  for (int c = 0; c < classes; ++c) d.class_names[c] = "class" + std::to_string(c);
  for (int i = 0; i < n; ++i) {
    d.images.push_back(static_cast<std::uint8_t>(i));
    d.labels.push_back(i * classes / n);
  }
  return d;
}

std::vector<int> indices_of(const data::Dataset& d) {
  return {d.images.begin(), d.images.end()};
}

TEST(ValidationSplit, TailTakesTheLastSamplesInOrder) {
  data::Dataset d = sorted_by_class(40, 4);
  const data::Dataset val = split_off_validation(d, 7, /*balanced=*/false);
  std::vector<int> want(7);
  std::iota(want.begin(), want.end(), 33);
  EXPECT_EQ(indices_of(val), want);
  EXPECT_EQ(val.labels, std::vector<std::int32_t>(7, 3));  // one class only: why balanced exists
  EXPECT_EQ(d.n, 33);
  EXPECT_EQ(indices_of(d).back(), 32);
  EXPECT_EQ(val.split, "validation");
}

TEST(ValidationSplit, BalancedTakesTheLastOfEachClassWithTheRemainderToTheFirstClasses) {
  data::Dataset d = sorted_by_class(40, 4);  // class c: samples 10c .. 10c + 9
  const data::Dataset val = split_off_validation(d, 10, /*balanced=*/true);
  // 10 / 4: classes 0 and 1 give 3, classes 2 and 3 give 2, each its last ones, in file order.
  EXPECT_EQ(indices_of(val), (std::vector<int>{7, 8, 9, 17, 18, 19, 28, 29, 38, 39}));
  EXPECT_EQ(val.labels, (std::vector<std::int32_t>{0, 0, 0, 1, 1, 1, 2, 2, 3, 3}));
  ASSERT_EQ(d.n, 30);
  ASSERT_EQ(d.labels.size(), 30u);
  for (int i = 0; i < d.n; ++i)  // what stays keeps its order, pixels with their labels
    EXPECT_EQ(d.labels[i], d.images[i] / 10) << "sample " << i;
  EXPECT_EQ(d.images[6], 6);
  EXPECT_EQ(d.images[7], 10);
}

TEST(ValidationSplit, TextFeaturesTravelWithTheirLabels) {
  data::Dataset d = sorted_by_class(12, 3);
  d.images.clear();
  d.channels = d.height = d.width = 0, d.feature_dim = 2;
  for (int i = 0; i < d.n; ++i) d.features.insert(d.features.end(), {float(i), -float(i)});
  const data::Dataset val = split_off_validation(d, 3, /*balanced=*/true);
  EXPECT_EQ(val.features, (std::vector<float>{3, -3, 7, -7, 11, -11}));
  EXPECT_EQ(d.features.size(), 18u);
}

TEST(ValidationSplit, AClassLeftWithoutTrainingSamplesIsRefusedByName) {
  data::Dataset d = sorted_by_class(40, 4);
  d.labels[0] = 1;  // class 0 now has 9 samples; 37 / 4 asks it for 10
  try {
    split_off_validation(d, 37, /*balanced=*/true);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("class 0 ('class0'), which has 9"), std::string::npos) << what;
  }
  EXPECT_THROW(split_off_validation(d, 40, /*balanced=*/false), Error);
  EXPECT_THROW(split_off_validation(d, 0, /*balanced=*/true), Error);
}

}  // namespace
}  // namespace gq::train
