#include "runtime/train/state_registry.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "kernels/elementwise.h"
#include "kernels/optim.h"
#include "kernels/reduce.h"
#include "runtime/error.h"

namespace gq::train {

const char* role_name(StateRole role) {
  switch (role) {
    case StateRole::parameters: return "parameter";
    case StateRole::model_state: return "model state";
    case StateRole::optimizer_state: return "optimizer state";
    case StateRole::grad_queue: return "Grad Queue state";
    case StateRole::weight_average: return "weight average";
    case StateRole::run_progress: return "run progress";
    case StateRole::working: return "working memory";
  }
  return "state";
}

namespace {

const char* default_row(StateRole role) {
  switch (role) {
    case StateRole::parameters: return "parameters";
    case StateRole::model_state: return "model state";
    case StateRole::optimizer_state: return "optimizer state";
    case StateRole::grad_queue: return "gq queue (qmax x P)";
    case StateRole::weight_average: return "lookahead EMA";
    case StateRole::run_progress: return "batch buffers";
    case StateRole::working: return "working memory";
  }
  return "other";
}

std::size_t floats_for(std::size_t bytes) { return (bytes + sizeof(float) - 1) / sizeof(float); }

}  // namespace

void StateRegistry::add_entry(StateEntry e) {
  GQ_CHECK(!sealed_, "state '{}' registered after the registry was sealed", e.name);
  GQ_CHECK(e.is_float || (!e.use.finite && !e.use.averaged_over_ranks),
           "state '{}': only float state is checked for finiteness or averaged over ranks", e.name);
  for (const StateEntry& other : entries_)
    GQ_CHECK(!e.use.checkpointed || !other.use.checkpointed || other.name != e.name,
             "two checkpointed states are named '{}'", e.name);
  if (e.plan_row.empty()) e.plan_row = default_row(e.role);
  if (e.name.empty()) e.name = e.plan_row;  // working memory: named by its row
  add_memory(e.plan_row, e.bytes);
  entries_.push_back(std::move(e));
}

void StateRegistry::add(std::string name, StateRole role, std::span<float> values, StateUse use,
                        std::vector<StatePart> parts, std::string plan_row) {
  add_entry({std::move(name), role, std::move(plan_row), values.data(), values.size_bytes(), true,
             use, std::move(parts)});
}

void StateRegistry::add_memory(std::string plan_row, std::size_t bytes) {
  GQ_CHECK(!sealed_, "memory '{}' registered after the registry was sealed", plan_row);
  const auto row = std::find_if(memory_.begin(), memory_.end(),
                                [&](const auto& r) { return r.first == plan_row; });
  if (row != memory_.end())
    row->second += bytes;
  else
    memory_.emplace_back(std::move(plan_row), bytes);
}

void StateRegistry::add_restore_check(
    StateRole role, std::function<void(const Checkpoint&, const std::string&)> check) {
  checks_.emplace_back(role, std::move(check));
}

void StateRegistry::seal() {
  std::size_t checked = 0;
  for (const StateEntry& e : entries_)
    if (e.use.finite) checked += std::max<std::size_t>(1, e.parts.size());
  finite_flags_ = DeviceBuffer<std::int32_t>(std::max<std::size_t>(1, checked));
  reduce_scratch_ = DeviceBuffer<char>(kernels::reduce_scratch_bytes());
  add_memory("batch buffers", finite_flags_.bytes() + reduce_scratch_.bytes());
  sealed_ = true;
}

std::vector<const StateEntry*> StateRegistry::float_entries(
    std::initializer_list<StateRole> roles) const {
  std::vector<const StateEntry*> out;
  for (const StateEntry& e : entries_)
    if (e.is_float && selected(e.role, roles)) out.push_back(&e);
  return out;
}

// An empty list selects every role.
bool StateRegistry::selected(StateRole role, std::initializer_list<StateRole> roles) {
  return roles.size() == 0 || std::find(roles.begin(), roles.end(), role) != roles.end();
}

void StateRegistry::save(Checkpoint& ck) const {
  for (const StateEntry& e : entries_) {
    if (!e.use.checkpointed) continue;
    std::vector<float>& section = ck.sections[e.name];
    section.assign(floats_for(e.bytes), 0.0f);
    copy_to_host(section.data(), e.data, e.bytes);
  }
}

// A checkpoint is untrusted (its checksum guards against rot, not forgery): nothing non-finite is
// taken in, or it would be copied into every later "good" checkpoint.
void StateRegistry::restore(const Checkpoint& ck, const std::string& path,
                            std::initializer_list<StateRole> roles) const {
  std::vector<std::pair<const StateEntry*, const std::vector<float>*>> plan;
  for (const StateEntry& e : entries_) {
    if (!e.use.checkpointed || !selected(e.role, roles)) continue;
    const auto it = ck.sections.find(e.name);
    const std::size_t n = floats_for(e.bytes);
    GQ_CHECK(it != ck.sections.end() && it->second.size() == n,
             "{}: section '{}' missing or of the wrong size (expected {} values)", path, e.name, n);
    if (e.use.finite) {
      const auto bad = std::find_if_not(it->second.begin(), it->second.end(),
                                        [](float v) { return std::isfinite(v); });
      GQ_CHECK(bad == it->second.end(),
               "{}: section '{}' holds {} at index {}: expected finite values (a corrupt or forged "
               "checkpoint)", path, e.name, *bad, bad - it->second.begin());
    }
    plan.emplace_back(&e, &it->second);
  }
  for (const auto& [role, check] : checks_)
    if (selected(role, roles)) check(ck, path);
  for (const auto& [e, section] : plan) copy_to_device(e->data, section->data(), e->bytes);
}

std::optional<std::string> StateRegistry::first_nonfinite() const {
  GQ_CHECK(sealed_, "first_nonfinite before the registry was sealed");
  std::vector<std::string> names;
  for (const StateEntry& e : entries_) {
    if (!e.use.finite) continue;
    const std::vector<StatePart> whole{{e.name, 0, e.bytes / sizeof(float)}};
    for (const StatePart& part : e.parts.empty() ? whole : e.parts) {
      kernels::any_nonfinite(static_cast<const float*>(e.data) + part.offset, part.size,
                             finite_flags_.data() + names.size(), reduce_scratch_.data());
      names.push_back(fmt::format("{} {}", role_name(e.role), part.name));
    }
  }
  std::vector<std::int32_t> flags(names.size());
  copy_to_host(flags.data(), finite_flags_.data(), flags.size() * sizeof(std::int32_t));
  for (std::size_t t = 0; t < flags.size(); ++t)
    if (flags[t]) return names[t];
  return std::nullopt;
}

void StateRegistry::average_over_ranks(Communicator& comm) const {
  for (const StateEntry& e : entries_) {
    if (!e.use.averaged_over_ranks) continue;
    float* values = static_cast<float*>(e.data);
    const std::size_t n = e.bytes / sizeof(float);
    comm.reserve(n);
    comm.sum(values, n, nullptr);
    kernels::scale(values, n, 1.0f / static_cast<float>(comm.size()), nullptr);
  }
}

void name_legacy_model_state(Checkpoint& ck, const StateRegistry& registry,
                             const std::string& path) {
  std::vector<float> all;
  for (int i = 0;; ++i) {
    const auto it = ck.sections.find(fmt::format("state{}", i));
    if (it == ck.sections.end()) break;
    all.insert(all.end(), it->second.begin(), it->second.end());
    ck.sections.erase(it);
  }
  if (all.empty()) return;
  const std::vector<const StateEntry*> named = registry.float_entries({StateRole::model_state});
  std::size_t want = 0;
  for (const StateEntry* e : named) want += e->bytes / sizeof(float);
  GQ_CHECK(want == all.size(),
           "{}: its model state (sections state0, state1, ...) holds {} values, this model's {}",
           path, all.size(), want);
  std::size_t at = 0;
  for (const StateEntry* e : named) {
    const std::size_t n = e->bytes / sizeof(float);
    ck.sections[e->name].assign(all.begin() + at, all.begin() + at + n);
    at += n;
  }
}

std::vector<std::pair<std::string, std::size_t>> StateRegistry::memory_rows() const {
  return memory_;
}

}  // namespace gq::train
