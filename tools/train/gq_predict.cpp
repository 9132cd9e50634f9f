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

// Classifies `files` (already decoded to planes) in batches; appends to `out`.
void classify(gq::train::CheckpointModel& model, const std::vector<std::string>& files,
              const std::vector<std::vector<float>>& planes, int k, std::vector<Prediction>& out) {
  const int classes = static_cast<int>(model.input().classes.size());
  for (std::size_t start = 0; start < files.size(); start += kMaxBatch) {
    const int n = static_cast<int>(std::min<std::size_t>(kMaxBatch, files.size() - start));
    std::vector<float> batch;
    for (int i = 0; i < n; ++i) batch.insert(batch.end(), planes[start + i].begin(), planes[start + i].end());
    const std::vector<float> logits = model.logits(batch, n);
    for (int i = 0; i < n; ++i)
      out.push_back({files[start + i], top_classes(logits.data() + static_cast<std::size_t>(i) * classes, classes, k)});
  }
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
  for (const Prediction& p : predictions) {
    std::string line = p.file;
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
    const gq::train::ModelInput& in = model.input();
    GQ_CHECK(in.image(), "{}: model {} reads text features, not images", checkpoint, model.name());
    std::vector<std::string> read;
    std::vector<std::vector<float>> planes;
    int failed = 0;
    for (const std::string& path : images) {
      try {
        const gq::data::DecodedImage image = gq::data::read_image_file(path, static_cast<int>(in.shape[0]));
        planes.push_back(gq::data::image_planes(image, static_cast<int>(in.shape[1]), static_cast<int>(in.shape[2])));
        read.push_back(path);
      } catch (const gq::data::DataError& e) {
        std::fprintf(stderr, "gq-predict: %s\n", e.what());
        ++failed;
      }
    }
    std::vector<Prediction> predictions;
    classify(model, read, planes, top, predictions);
    print(predictions, in.classes, json);
    return failed ? 3 : 0;
  } catch (const std::exception& e) {
    gq::tools::exit_if_out_of_memory(e);  // exit 4
    std::fprintf(stderr, "gq-predict: %s\n", e.what());
    return 1;
  }
}
