// gq-predict: classifies image files (PNG or JPEG) with a gq-train checkpoint's model and prints
// each file's most probable classes.
//   gq-predict CHECKPOINT IMAGE... [--top K] [--json]
// Each image is decoded (datasets/image_file.h), converted to the model's channels, resized to its
// input (area averaging down, bilinear up) and normalised as in training; the model runs in
// evaluation mode (runtime/train/checkpoint_model.h), in batches of up to 64 images.
// Exit codes: 0 every image classified; 1 the checkpoint is unreadable or not an image model; 3 an
// image could not be read (named; the others are still classified); 4 out of memory; CLI11's for
// bad arguments (105 a bad value, 106 a missing one).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "datasets/image_file.h"
#include "runtime/error.h"
#include "runtime/train/checkpoint_model.h"
#include "tools/train/out_of_memory.h"

namespace {

constexpr int kMaxBatch = 64;

struct Prediction {
  std::string file;
  std::vector<std::pair<int, double>> top;  // (class, probability), most probable first
};

// Softmax in double, then the k largest (ties: the lower class first).
std::vector<std::pair<int, double>> top_classes(const float* logits, int classes, int k) {
  const double peak = *std::max_element(logits, logits + classes);
  std::vector<double> p(classes);
  double sum = 0;
  for (int c = 0; c < classes; ++c) sum += p[c] = std::exp(static_cast<double>(logits[c]) - peak);
  std::vector<int> order(classes);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<std::pair<int, double>> out;
  for (int i = 0; i < std::min(k, classes); ++i) out.emplace_back(order[i], p[order[i]] / sum);
  return out;
}

// Decodes and classifies `files` in batches (so that memory does not grow with their number),
// appending to `out`; an unreadable file is named on stderr and counted in the return value.
int classify(gq::train::CheckpointModel& model, const std::vector<std::string>& files, int k,
             std::vector<Prediction>& out) {
  const gq::train::ModelInput& in = model.input();
  const int classes = static_cast<int>(in.classes.size()), channels = static_cast<int>(in.shape[0]);
  int failed = 0;
  for (std::size_t start = 0; start < files.size(); start += kMaxBatch) {
    std::vector<std::string> read;
    std::vector<float> batch;
    for (std::size_t i = start; i < std::min(files.size(), start + kMaxBatch); ++i) {
      try {
        const std::vector<float> planes = gq::data::image_planes(
            gq::data::read_image_file(files[i], channels), static_cast<int>(in.shape[1]),
            static_cast<int>(in.shape[2]));
        batch.insert(batch.end(), planes.begin(), planes.end());
        read.push_back(files[i]);
      } catch (const gq::data::DataError& e) {
        std::fprintf(stderr, "gq-predict: %s\n", e.what());
        ++failed;
      }
    }
    if (read.empty()) continue;
    const std::vector<float> logits = model.logits(batch, static_cast<int>(read.size()));
    for (std::size_t i = 0; i < read.size(); ++i)
      out.push_back({read[i], top_classes(logits.data() + i * classes, classes, k)});
  }
  return failed;
}

void print(const std::vector<Prediction>& predictions, const std::vector<std::string>& names,
           bool json) {
  if (json) {
    nlohmann::json all = nlohmann::json::array();
    for (const Prediction& p : predictions) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& [c, prob] : p.top) top.push_back({{"class", names[c]}, {"index", c}, {"probability", prob}});
      all.push_back({{"file", p.file}, {"top", top}});
    }
    fmt::print("{}\n", all.dump(2));
    return;
  }
  std::size_t width = 0;
  for (const Prediction& p : predictions) width = std::max(width, p.file.size());
  for (const Prediction& p : predictions) {
    std::string line = fmt::format("{:<{}}", p.file, width);
    for (const auto& [c, prob] : p.top) line += fmt::format("   {} {:.1f}%", names[c], 100 * prob);
    fmt::print("{}\n", line);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string checkpoint;
  std::vector<std::string> images;
  int top = 3;
  bool json = false;
  CLI::App app{"gq-predict: classify PNG or JPEG images with a gq-train checkpoint's model"};
  app.add_option("checkpoint", checkpoint, "checkpoint written by gq-train")->required();
  app.add_option("images", images, "PNG or JPEG files (resized to the model's input)")->required();
  app.add_option("--top", top, "how many of the most probable classes to print")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--json", json, "print a JSON list: each file's top classes with probabilities");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  gq::tools::on_out_of_memory_say("gq-predict", "reading the checkpoint and the images");
  try {
    const gq::train::Checkpoint ck = gq::train::read_checkpoint(checkpoint);
    const int batch = static_cast<int>(std::min<std::size_t>(kMaxBatch, images.size()));
    gq::train::CheckpointModel model(ck, checkpoint, batch);
    GQ_CHECK(model.input().image(), "{}: model {} reads text features, not images", checkpoint,
             model.name());
    std::vector<Prediction> predictions;
    const int failed = classify(model, images, top, predictions);
    print(predictions, model.input().classes, json);
    return failed ? 3 : 0;
  } catch (const std::exception& e) {
    gq::tools::exit_if_out_of_memory(e);  // exit 4
    std::fprintf(stderr, "gq-predict: %s\n", e.what());
    return 1;
  }
}
