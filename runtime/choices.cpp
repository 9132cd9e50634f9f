#include "runtime/choices.h"

#include <map>

namespace gq {
namespace {

std::map<std::string, std::vector<std::string>>& lists() {
  static std::map<std::string, std::vector<std::string>> by_kind;  // filled at static init
  return by_kind;
}

}  // namespace

bool register_choices(const std::string& kind, const std::vector<std::string>& names) {
  auto& list = lists()[kind];
  list.insert(list.end(), names.begin(), names.end());
  return true;
}

const std::vector<std::string>& choices(const std::string& kind) {
  return lists()[kind];
}

}  // namespace gq
