#include "runtime/train/rank_agreement.h"

#include <cstdint>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runtime/error.h"
#include "runtime/fnv1a.h"

namespace gq::train {
namespace {

std::string shown(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

void require_same_on_every_rank(Communicator& comm, const nlohmann::json& facts,
                                const std::string& what, const std::string& remedy) {
  const std::string text = facts.dump();
  // A fingerprint each first: one small collective when the ranks agree (the usual case).
  const std::vector<std::uint64_t> hashes = comm.all_gather(fnv1a(text.data(), text.size()));
  std::vector<int> differ;
  for (int r = 1; r < comm.size(); ++r)
    if (hashes[r] != hashes[0]) differ.push_back(r);
  if (differ.empty()) return;
  // Each differing rank names what differs from rank 0's.
  const nlohmann::json rank0 = nlohmann::json::parse(comm.broadcast(text, 0));
  const int rank = comm.rank();
  std::string detail;
  if (hashes[rank] != hashes[0]) {
    for (const auto& [key, value] : facts.items())
      if (!rank0.contains(key) || rank0[key] != value)
        detail += fmt::format("\n  {}: rank 0 {}, rank {} {}", key,
                              rank0.contains(key) ? shown(rank0[key]) : "unset", rank, shown(value));
  }
  GQ_FAIL("{}", fmt::format("the processes of this job {}: rank(s) {} differ from rank 0 "
                            "(fingerprint {:016x} vs {:016x}); {}{}",
                            what, fmt::join(differ, ", "), hashes[differ[0]], hashes[0], remedy,
                            detail));
}

}  // namespace gq::train
