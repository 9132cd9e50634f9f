// The --metrics JSONL file. Checked before training (check_metrics_path), opened once the run
// knows where it starts, and written one record per write(2) call with no buffering, so a failed
// write (a full disk, /dev/full, a file-size limit) stops the run with the path and the OS error
// instead of losing records silently.
//
// A resumed run continues the file of the run it resumes: records after the checkpoint's step
// (written by the first run after its last checkpoint, and to be written again) are dropped first,
// so every record appears once. A fresh run starts the file afresh.
//
// Run headers (runtime/train/run_header.h): one per segment, each at the step its segment started
// from, so a resumed run's file reads header 0, records, header S, records. A resume from step S
// also drops a header at S: it was written by an earlier attempt at the same segment (stopped
// before its first checkpoint), which this run's header replaces.
#pragma once

#include <filesystem>
#include <string>

namespace gq::train {

// Creates the parent folder if needed and checks that `path` can be opened for appending (without
// changing it); gq::Error with the path and the OS error otherwise. A FIFO without a reader or a
// directory is refused, never waited on.
void check_metrics_path(const std::filesystem::path& path);

class MetricsLog {
 public:
  MetricsLog() = default;  // writes nothing
  // resume_step < 0: a fresh run (the file is truncated); else records with "step" greater than
  // resume_step, a run header at resume_step, and lines that are not JSON records (a torn last
  // line) are dropped first.
  MetricsLog(const std::filesystem::path& path, long resume_step);
  ~MetricsLog();
  MetricsLog(MetricsLog&& other) noexcept;
  MetricsLog& operator=(MetricsLog&& other) noexcept;

  // Appends one line; gq::Error naming the file and the OS error when it cannot be written.
  void write(const std::string& json_line);
  // Records dropped when the file was opened for a resume.
  long dropped() const { return dropped_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  long dropped_ = 0;
};

}  // namespace gq::train
