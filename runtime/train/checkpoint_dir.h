// The --checkpoint-dir folder: checked before training (so a bad folder fails at once, not after
// the whole run), cleaned of temporary files a killed run left, and pruned to the newest
// checkpoints as the run writes new ones.
#pragma once

#include <filesystem>
#include <vector>

namespace gq::train {

// Creates `dir` if needed, checks that files can be created in it (gq::Error with the path and
// the OS error otherwise) and claims it for the life of a run: two runs writing one folder at once would
// interleave and prune each other's checkpoints. flock(2) on dir/.gq-train.lock, so the claim ends
// with the process however it ends (a killed run leaves no stale lock); the file holds the pid for
// the message. gq::Error naming the folder and the pid holding it when another run has it.
class CheckpointDirLock {
 public:
  explicit CheckpointDirLock(const std::filesystem::path& dir);
  ~CheckpointDirLock();
  CheckpointDirLock(const CheckpointDirLock&) = delete;
  CheckpointDirLock& operator=(const CheckpointDirLock&) = delete;

 private:
  int fd_ = -1;
};

// "dir/step0001234.ckpt": a checkpoint written at a step (zero-padded, so names sort by step).
std::filesystem::path step_checkpoint_path(const std::filesystem::path& dir, long step);

// Removes *.ckpt.tmp files (left by a run killed while writing) and returns their paths. Call it
// holding the folder's lock: a live run's .tmp is its checkpoint being written.
std::vector<std::filesystem::path> remove_partial_checkpoints(const std::filesystem::path& dir);

// The checkpoints of `dir` (step*.ckpt oldest first, then last.ckpt): a run's, when not empty.
std::vector<std::filesystem::path> run_checkpoints(const std::filesystem::path& dir);

// Deletes step checkpoints of `dir` older than the newest `keep` among those at or before `step`
// (checkpoints past `step`, from an abandoned later run, are left alone; last.ckpt always stays).
// keep <= 0 keeps all. Returns the deleted paths.
std::vector<std::filesystem::path> prune_checkpoints(const std::filesystem::path& dir, int keep,
                                                     long step);

}  // namespace gq::train
