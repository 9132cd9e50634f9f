// The names a setting may take, listed by the component that owns them: the model zoo its models,
// the dataset catalog its datasets, the schedules and optimizers theirs. A setting's --help, its
// check and its error message read the list here, so a name is written once, where it is built.
// Host-only, below every component (library gq_choices), so any of them may register.
#pragma once

#include <string>
#include <vector>

namespace gq {

// Adds `names` to the list of `kind` ("model", "dataset", ...) at static initialisation:
// `const bool registered = register_choices("model", {...});`. Returns true.
bool register_choices(const std::string& kind, const std::vector<std::string>& names);
// The names registered for `kind`, in registration order (empty when none were linked in).
const std::vector<std::string>& choices(const std::string& kind);

}  // namespace gq
