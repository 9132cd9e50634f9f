// The process-wide note of chosen library implementations (runtime/implementations.h).
#include "runtime/implementations.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

#include "runtime/dnn.h"
#include "runtime/gemm_plan.h"

namespace gq::detail {

std::string dnn_area(Precision precision) { return "dnn " + std::string(name(precision)); }

namespace {
struct Notes {
  std::mutex mutex;
  std::map<std::string, std::vector<std::string>, std::less<>> by_area;
};
Notes& notes() {
  static Notes n;
  return n;
}
}  // namespace

void note_implementation(std::string_view area, std::string_view name) {
  Notes& n = notes();
  const std::lock_guard<std::mutex> lock(n.mutex);
  std::vector<std::string>& names = n.by_area[std::string(area)];
  if (std::find(names.begin(), names.end(), name) == names.end()) names.emplace_back(name);
}

std::string noted_implementations(std::string_view area) {
  Notes& n = notes();
  const std::lock_guard<std::mutex> lock(n.mutex);
  const auto it = n.by_area.find(area);
  if (it == n.by_area.end()) return "";
  std::string joined;
  for (const std::string& name : it->second) joined += (joined.empty() ? "" : ", ") + name;
  return joined;
}

}  // namespace gq::detail

namespace gq::dnn {
std::string implementations_used(Precision precision) {
  return gq::detail::noted_implementations(gq::detail::dnn_area(precision));
}
}  // namespace gq::dnn

namespace gq::blas {
std::string gemm_implementations_used() {
  return gq::detail::noted_implementations(gq::detail::kGemmBf16Area);
}
}  // namespace gq::blas
