#include "models/zoo.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "models/conv2d.h"
#include "models/linear.h"
#include "models/norm_layers.h"
#include "models/simple_layers.h"
#include "models/whitening.h"
#include "runtime/choices.h"
#include "runtime/error.h"

namespace gq::models {
namespace {

using kernels::Activation;

std::unique_ptr<Layer> relu() {
  return std::make_unique<ActivationLayer>(Activation::relu);
}
std::unique_ptr<Layer> gelu() {
  return std::make_unique<ActivationLayer>(Activation::gelu);
}
std::unique_ptr<Layer> maxpool(int window) {
  return std::make_unique<Pool2d>(PoolKind::max, window, window);
}

// ReLU followed by 2x2 max-pooling, run as the pool first: max commutes with a non-decreasing
// function, so the outputs are the same; the pool's argmax is the same element wherever the
// window's max is positive, and elsewhere the ReLU's backward zeroes the gradient either way. So
// the gradients are the same too (test Zoo.PoolThenReluGivesTheBitsOfReluThenPool), and the ReLU
// runs on a quarter of the elements (~7% of a paper-cnn step on the emulator, docs/PERF.md). The
// one difference: a window whose max is -0.0 gives -0.0 here and +0.0 the other way round.
void relu_then_pool(Sequential& m, const std::string& relu_name, const std::string& pool_name) {
  m.add(pool_name, maxpool(2));
  m.add(relu_name, relu());
}

// paper-cnn: three conv blocks (32, 64, 128 channels), each conv3x3 -> GroupNorm(8) -> ReLU ->
// maxpool 2x2, then global average pooling and a linear classifier. GroupNorm keeps samples
// independent, so per-sample gradients are exact gradients of each sample's own loss.
// The blocks pool before the ReLU (relu_then_pool): the same net on a quarter of the elements.
void paper_cnn(Sequential& m, int classes) {
  int block = 1;
  for (int width : {32, 64, 128}) {
    const std::string b = "block" + std::to_string(block++);
    m.add(b + ".conv", std::make_unique<Conv2d>(width, 3, 1, 1, false));
    m.add(b + ".norm", std::make_unique<GroupNorm>(8));
    relu_then_pool(m, b + ".relu", b + ".pool");
  }
  m.add("pool", std::make_unique<GlobalAvgPool>());
  m.add("fc", std::make_unique<Linear>(classes));
}

// airbench: the airbench94-style net (~2M parameters): a 64-channel stem, then three blocks of
// two conv3x3 + BatchNorm + GELU with max-pooling (widths 64, 256, 256), a global max pool
// over the final 4x4 map and a linear head.
void airbench(Sequential& m, int classes) {
  m.add("stem.conv", std::make_unique<Conv2d>(64, 3, 1, 1, false));
  m.add("stem.norm", std::make_unique<BatchNorm2d>());
  m.add("stem.gelu", gelu());
  int block = 1;
  for (int width : {64, 256, 256}) {
    const std::string b = "block" + std::to_string(block++);
    m.add(b + ".conv1", std::make_unique<Conv2d>(width, 3, 1, 1, false));
    m.add(b + ".pool", maxpool(2));
    m.add(b + ".norm1", std::make_unique<BatchNorm2d>());
    m.add(b + ".gelu1", gelu());
    m.add(b + ".conv2", std::make_unique<Conv2d>(width, 3, 1, 1, false));
    m.add(b + ".norm2", std::make_unique<BatchNorm2d>());
    m.add(b + ".gelu2", gelu());
  }
  m.add("pool", std::make_unique<Pool2d>(PoolKind::max, 4, 4));
  m.add("flatten", std::make_unique<Flatten>());
  m.add("fc", std::make_unique<Linear>(classes, false));
}

// airbench94 (cifar10-airbench's airbench94.py, arXiv 2404.00498): a 2x2 whitening stem (24
// channels, filters set from the data before training and frozen; docs/ARCHITECTURE.md
// "airbench94"), GELU, three blocks of widths 64, 256, 256 (conv3x3 without bias, Dirac-
// initialised -> max-pool 2 -> BatchNorm -> GELU -> conv3x3 -> BatchNorm -> GELU; BatchNorm with
// its scale frozen at 1, eps 1e-12 and momentum 0.4, i.e. running = 0.6 running + 0.4 batch),
// max-pool 3 over the final 3x3 map, a bias-free linear head, logits times 1/9.
void airbench94(Sequential& m, int classes) {
  const auto conv = [](int width) {
    return std::make_unique<Conv2d>(width, 3, 1, 1, false, Conv2d::WeightInit::dirac);
  };
  const auto norm = [] {
    return std::make_unique<BatchNorm2d>(0.4f, 1e-12f, BatchNorm2d::Scale::frozen_at_one);
  };
  m.add("stem.whiten", std::make_unique<Whitening>(2));
  m.add("stem.gelu", gelu());
  int block = 1;
  for (int width : {64, 256, 256}) {
    const std::string b = "block" + std::to_string(block++);
    m.add(b + ".conv1", conv(width));
    m.add(b + ".pool", maxpool(2));
    m.add(b + ".norm1", norm());
    m.add(b + ".gelu1", gelu());
    m.add(b + ".conv2", conv(width));
    m.add(b + ".norm2", norm());
    m.add(b + ".gelu2", gelu());
  }
  m.add("pool", maxpool(3));
  m.add("flatten", std::make_unique<Flatten>());
  m.add("fc", std::make_unique<Linear>(classes, false, 1.0f / 9.0f));
}

// mnist-cnn: two conv blocks (32, 64) with ReLU and max-pooling, then a 128-unit hidden layer.
void mnist_cnn(Sequential& m, int classes) {
  m.add("conv1", std::make_unique<Conv2d>(32, 3, 1, 1));
  relu_then_pool(m, "relu1", "pool1");
  m.add("conv2", std::make_unique<Conv2d>(64, 3, 1, 1));
  relu_then_pool(m, "relu2", "pool2");
  m.add("flatten", std::make_unique<Flatten>());
  m.add("fc1", std::make_unique<Linear>(128));
  m.add("relu3", relu());
  m.add("fc2", std::make_unique<Linear>(classes));
}

// mlp: for bag-of-words text: two hidden layers of 256 with ReLU and dropout 0.5.
void mlp(Sequential& m, int classes) {
  m.add("fc1", std::make_unique<Linear>(256));
  m.add("relu1", relu());
  m.add("drop1", std::make_unique<Dropout>(0.5f));
  m.add("fc2", std::make_unique<Linear>(256));
  m.add("relu2", relu());
  m.add("drop2", std::make_unique<Dropout>(0.5f));
  m.add("fc3", std::make_unique<Linear>(classes));
}

struct Entry {
  const char* name;
  void (*build)(Sequential&, int classes);
  bool images;  // needs [C, H, W] input; the others take any input, flattened
};
constexpr Entry kModels[] = {
    {"paper-cnn", paper_cnn, true},
    {"airbench", airbench, true},
    {"airbench94", airbench94, true},
    {"mnist-cnn", mnist_cnn, true},
    {"mlp", mlp, false},
};
const bool kRegistered = register_choices("model", model_names());  // --model

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Entry& e : kModels) out.emplace_back(e.name);
    return out;
  }();
  return names;
}

std::unique_ptr<Sequential> build_model(const std::string& name, const Shape& input,
                                        int num_classes) {
  const bool image = input.rank == 3;
  for (const Entry& e : kModels) {
    if (name != e.name) continue;
    GQ_CHECK(image || !e.images,
             "model '{}' needs image input [C, H, W], but the dataset gives {}; use --model mlp",
             name, input.str());
    auto m = std::make_unique<Sequential>();
    if (image && !e.images) m->add("flatten", std::make_unique<Flatten>());
    e.build(*m, num_classes);
    return m;
  }
  GQ_FAIL("unknown model '{}'; valid: {}", name, fmt::format("{}", fmt::join(model_names(), ", ")));
}

}  // namespace gq::models
