// The device state of a run, in one list. Every buffer a run allocates is registered here by the
// component that owns it, with a name, a role and what the run does with it:
//   - checkpointed: saved as the checkpoint section of its name, restored from it;
//   - finite: scanned by the non-finite check (no checkpoint is written from NaN), and refused on
//     restore when a value is not finite;
//   - averaged over ranks: data-parallel ranks accumulate it apart (BatchNorm's running
//     statistics), so its copies are averaged before a checkpoint or an evaluation.
// Checkpoints, the memory plan, the non-finite check and the data-parallel code iterate this list
// and nothing else, so a component that adds state registers it and touches none of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "runtime/comm.h"
#include "runtime/memory.h"
#include "runtime/train/checkpoint.h"

namespace gq::train {

enum class StateRole {
  parameters,       // the model's flat parameter vector
  model_state,      // the model's other state (BatchNorm running statistics)
  optimizer_state,  // one float per parameter (momentum, ...)
  grad_queue,       // Grad Queue's ring and its statistics
  weight_average,   // the lookahead EMA's copy of the model
  run_progress,     // what a resume needs to log as an uninterrupted run (the loss accumulator)
  working,          // recomputed every step or at start: counted in the memory plan only
};

struct StateUse {
  bool checkpointed = false;
  bool finite = false;  // float state only
  bool averaged_over_ranks = false;
};

// A named range of a float entry (a parameter tensor in the flat vector): the non-finite check
// names the first bad part.
struct StatePart {
  std::string name;
  std::size_t offset, size;  // floats
};

struct StateEntry {
  std::string name;      // its checkpoint section; with the role, its name in messages
  StateRole role;
  std::string plan_row;  // the memory plan's row it is counted in
  void* data = nullptr;
  std::size_t bytes = 0;
  bool is_float = false;  // else plain data, which travels bit for bit in float sections
  StateUse use;
  std::vector<StatePart> parts;
};

class StateRegistry {
 public:
  // Float state. plan_row empty: the role's row ("parameters", "optimizer state", ...).
  void add(std::string name, StateRole role, std::span<float> values, StateUse use,
           std::vector<StatePart> parts = {}, std::string plan_row = {});
  // Plain data (counters, doubles, structs), checkpointed bit for bit when use says so. Working
  // memory may go unnamed (name empty): it is named by its memory-plan row.
  template <class T>
  void add_plain(std::string name, StateRole role, DeviceBuffer<T>& buffer, StateUse use,
                 std::string plan_row = {}) {
    add_entry({std::move(name), role, std::move(plan_row), buffer.data(), buffer.bytes(), false,
               use, {}});
  }
  // Device memory a component holds that is not a buffer of its own to register (a model's
  // activations, library workspaces), or a buffer it may reallocate (an entry keeps a pointer):
  // the memory plan counts it.
  void add_memory(std::string plan_row, std::size_t bytes);
  // A check of restored sections that a section-by-section check cannot make (the invariants
  // between Grad Queue's ring sections): run when entries of `role` are restored, before anything
  // is uploaded. Throws gq::Error naming the checkpoint.
  void add_restore_check(StateRole role,
                         std::function<void(const Checkpoint&, const std::string& path)> check);
  // After the last add: allocates the non-finite check's flags. Nothing is added after it.
  void seal();

  const std::vector<StateEntry>& entries() const { return entries_; }
  // The float entries of these roles (what the lookahead EMA averages).
  std::vector<const StateEntry*> float_entries(std::initializer_list<StateRole> roles) const;

  // Host copies of the checkpointed entries, as sections.
  void save(Checkpoint& ck) const;
  // The checkpointed entries of `roles` (all when empty) from ck's sections: every one checked
  // (present, of its size, finite where it must be) and the restore checks run before the first
  // upload, so a refused checkpoint changes nothing. gq::Error names `path` and the section.
  void restore(const Checkpoint& ck, const std::string& path,
               std::initializer_list<StateRole> roles = {}) const;
  // The first finite-checked tensor holding NaN or infinity ("parameter conv1.weight",
  // "optimizer state momentum"), checked on the device; one small copy to the host.
  std::optional<std::string> first_nonfinite() const;
  // Data-parallel (a collective): every averaged entry becomes the mean of the ranks' copies.
  void average_over_ranks(Communicator& comm) const;
  // (row, bytes) in the order rows were first used.
  std::vector<std::pair<std::string, std::size_t>> memory_rows() const;

 private:
  void add_entry(StateEntry e);
  static bool selected(StateRole role, std::initializer_list<StateRole> roles);

  std::vector<StateEntry> entries_;
  std::vector<std::pair<std::string, std::size_t>> memory_;  // add_memory's
  std::vector<std::pair<StateRole, std::function<void(const Checkpoint&, const std::string&)>>>
      checks_;
  bool sealed_ = false;
  mutable DeviceBuffer<std::int32_t> finite_flags_;  // one per checked part (first_nonfinite)
  mutable DeviceBuffer<char> reduce_scratch_;
};

// Checkpoints of format 1 and 2 held the model state unnamed, as sections state0, state1, ...: one
// per layer, each the layer's state tensors one after the other. Renames them in place to the
// registry's model-state names (gq::Error naming `path` when their sizes do not add up).
void name_legacy_model_state(Checkpoint& ck, const StateRegistry& registry,
                             const std::string& path);

// "parameter", "optimizer state", ... (the first words of a non-finite message).
const char* role_name(StateRole role);

}  // namespace gq::train
