// Error messages: "file:line: cuemu: what [block (x,y,z) thread (x,y,z)]".
#include <cstdio>
#include <string>

#include "runtime/cuemu/detail/state.h"

namespace cuemu::detail {

bool Site::same(const char* w, const Loc& loc) const {
  // file_name() is a literal, usually one pointer per file; compare text when pointers differ.
  return what == w && line == loc.line() &&
         (file == loc.file_name() || std::string_view(file) == loc.file_name());
}

std::string hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string xyz(const uint3& v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "(%u,%u,%u)", v.x, v.y, v.z);
  return buf;
}

std::string describe_thread(const Fiber& f) {
  return "block " + xyz(tl_block_idx) + " thread " + xyz(f.tid);
}

static std::string context() {
  return tl_thread != nullptr ? " [" + describe_thread(current_fiber()) + "]" : std::string();
}

void fail_at(const Loc& loc, const std::string& msg) {
  throw error(std::string(loc.file_name()) + ":" + std::to_string(loc.line()) + ": cuemu: " + msg +
              context());
}

void fail_at(const Site& site, const std::string& msg) {
  throw error(std::string(site.file) + ":" + std::to_string(site.line) + ": cuemu: " + msg +
              context());
}

void fail(const std::string& msg) {
  throw error("cuemu: " + msg + context());
}

}  // namespace cuemu::detail
