// --tensorboard DIR: TensorBoard event files, fed the same records as the --metrics JSONL
// (Trainer::log_metrics), so the two never disagree. Rank 0 alone writes, as for the JSONL.
//
// Written by hand: no Debian C++ library writes TensorBoard events (TensorFlow's writer is not
// packaged, and libprotobuf-dev would bring a generated-code build step for TensorFlow's .proto
// files), and an event is a handful of protobuf fields in TFRecord framing. The encoder covers those
// fields only; tests/tools/test_tensorboard.sh reads the files back with TensorBoard's own reader.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace gq::train {

class TensorBoardWriter {
 public:
  // Creates `dir` and a new event file in it (events.out.tfevents.<time>.<host>.<pid>, so that a
  // later run's file sorts after), beginning with the file_version event and a SessionLog START:
  // TensorBoard's reader then hides the events of earlier files at steps >= that START's, as the
  // JSONL drops its records past a resumed checkpoint's step (resume_step < 0: a fresh run hides
  // all earlier ones). gq::Error naming the flag, the path and the OS error when it cannot.
  TensorBoardWriter(const std::filesystem::path& dir, long resume_step);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One metrics record: every number in it a scalar "<type>/<key>" ("train/loss",
  // "eval/test_accuracy", "train/gradqueue/qlen") at the record's step and time; a run header
  // (type "run") is the text "run", its JSON, which holds the settings.
  void write(const nlohmann::json& record);
  const std::filesystem::path& path() const { return path_; }

 private:
  void append(const std::string& event);  // one TFRecord, flushed

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace gq::train
