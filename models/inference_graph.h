// A model's evaluation-mode computation in ONNX's operator vocabulary (opset 17), built layer by
// layer: each layer appends its nodes (Layer::add_to_graph), reading its tensors by their
// registry names ("block1.conv1.weight", "block1.norm1.running_mean"), which the exporter binds to
// the checkpoint's values. Kept free of protobuf so that models/ does not depend on ONNX;
// runtime/train/onnx_export.cpp turns it into an ONNX model and has ONNX's checker verify it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace gq::models {

struct GraphAttribute {
  std::string name;
  std::variant<std::int64_t, float, std::vector<std::int64_t>> value;
};

struct GraphNode {
  std::string op;  // "Conv", "Gemm", ...
  std::vector<std::string> inputs;
  std::string output;
  std::vector<GraphAttribute> attributes;
};

// A tensor the graph itself defines (a reshape's target shape, a constant factor); the layers'
// own tensors come from the checkpoint.
struct GraphConstant {
  std::string name;
  std::vector<std::int64_t> dims;
  std::vector<float> floats;       // float constants
  std::vector<std::int64_t> ints;  // int64 constants (shapes), when floats is empty
};

class InferenceGraph {
 public:
  // Appends a node named after its layer; returns its output's (unique) name.
  std::string add(const std::string& layer, std::string op, std::vector<std::string> inputs,
                  std::vector<GraphAttribute> attributes = {}) {
    std::string output = unique(layer + "/" + op);
    nodes_.push_back({std::move(op), std::move(inputs), std::move(output), std::move(attributes)});
    return nodes_.back().output;
  }
  std::string constant(const std::string& layer, std::vector<std::int64_t> dims,
                       std::vector<float> values) {
    constants_.push_back({unique(layer + "/const"), std::move(dims), std::move(values), {}});
    return constants_.back().name;
  }
  std::string shape_constant(const std::string& layer, std::vector<std::int64_t> shape) {
    const auto n = static_cast<std::int64_t>(shape.size());
    constants_.push_back({unique(layer + "/shape"), {n}, {}, std::move(shape)});
    return constants_.back().name;
  }
  const std::vector<GraphNode>& nodes() const { return nodes_; }
  const std::vector<GraphConstant>& constants() const { return constants_; }

 private:
  std::string unique(const std::string& base) {
    return base + "_" + std::to_string(next_id_++);
  }
  std::vector<GraphNode> nodes_;
  std::vector<GraphConstant> constants_;
  int next_id_ = 0;
};

}  // namespace gq::models
