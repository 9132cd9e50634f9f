// The --checkpoint-dir folder: checked before training (so a bad folder fails at once, not after
// the whole run), cleaned of temporary files a killed run left, and pruned to the newest
// checkpoints as the run writes new ones.
#pragma once

#include <filesystem>
#include <vector>

namespace gq::train {

// "dir/step0001234.ckpt": a checkpoint written at a step (zero-padded, so names sort by step).
std::filesystem::path step_checkpoint_path(const std::filesystem::path& dir, long step);

// Creates `dir` if needed and checks that a file can be created in it; gq::Error with the path
// and the OS error otherwise. Removes *.ckpt.tmp files (left by a run killed while writing) and
// returns their paths.
std::vector<std::filesystem::path> prepare_checkpoint_dir(const std::filesystem::path& dir);

// Deletes step checkpoints of `dir` older than the newest `keep` among those at or before `step`
// (checkpoints past `step`, from an abandoned later run, are left alone; last.ckpt always stays).
// keep <= 0 keeps all. Returns the deleted paths.
std::vector<std::filesystem::path> prune_checkpoints(const std::filesystem::path& dir, int keep,
                                                     long step);

}  // namespace gq::train
