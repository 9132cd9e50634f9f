// Every kernel case (kernels/cases/kernel_case.h) at each of its sizes: outputs poisoned first,
// against its double-precision host reference within its tolerance, and a second preparation and
// launch gives the same bits. Registered in both thread orders, like every kernel test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cases/kernel_case.h"

namespace gq::cases {
namespace {

using Param = std::pair<const KernelCase*, Dims>;

std::vector<Param> params() {
  std::vector<Param> out;
  for (const KernelCase& c : all_kernel_cases())
    for (const Dims& size : c.sizes) out.emplace_back(&c, size);
  return out;
}

std::vector<float> run(const KernelCase& c, const Dims& size, std::uint64_t seed) {
  PreparedCase p = c.prepare(size, seed);
  p.launch();
  return p.outputs();
}

class KernelCases : public ::testing::TestWithParam<Param> {};

TEST_P(KernelCases, MatchesItsReference) {
  const auto& [c, size] = GetParam();
  const std::uint64_t seed = 1000 + numel(size);
  const std::vector<float> got = run(*c, size, seed);
  const Reference ref = c->reference(size, seed);
  const std::vector<double>& want = ref.values;
  ASSERT_EQ(got.size(), want.size());
  ASSERT_TRUE(ref.magnitudes.empty() || ref.magnitudes.size() == want.size());
  int reported = 0;
  for (std::size_t i = 0; i < got.size() && reported < 5; ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    const double scale = ref.magnitudes.empty() ? std::fabs(want[i]) : ref.magnitudes[i];
    if (!(err <= c->vs_reference.atol + c->vs_reference.rtol * scale)) {
      ADD_FAILURE() << c->name << " " << to_string(size) << " [" << i << "]: " << got[i] << ", reference "
                    << want[i] << " (|error| " << err << ")";
      ++reported;
    }
  }
}

TEST_P(KernelCases, GivesTheSameBitsTwice) {
  const auto& [c, size] = GetParam();
  const std::vector<float> a = run(*c, size, 7), b = run(*c, size, 7);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << c->name;
}

// The cases' names are unique (gq-parity matches them across builds by name) and describe them.
TEST(KernelCaseList, NamesAreUniqueAndEveryCaseIsComplete) {
  std::vector<std::string> names;
  for (const KernelCase& c : all_kernel_cases()) {
    EXPECT_TRUE(c.prepare && c.reference) << c.name;
    EXPECT_GT(c.bytes_per_element, 0) << c.name;
    EXPECT_GT(c.bench_bytes(), 0) << c.name;  // the benchmark's GB/s
    EXPECT_FALSE(c.sizes.empty()) << c.name;
    names.push_back(c.name);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_GE(names.size(), 12u);
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, KernelCases, ::testing::ValuesIn(params()),
                         [](const auto& info) {
                           std::string s =
                               info.param.first->name + "_" + to_string(info.param.second);
                           for (char& ch : s)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

}  // namespace
}  // namespace gq::cases
