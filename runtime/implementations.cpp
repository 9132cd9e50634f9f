// The process-wide note of chosen library implementations (runtime/implementations.h).
#include "runtime/implementations.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

namespace gq::detail {

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
