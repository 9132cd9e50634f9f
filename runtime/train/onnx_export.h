// A checkpoint's model as an ONNX model (opset 17, IR version 8), the inference graph that
// onnxruntime, TensorRT and most serving stacks load. Input "input": [N, C, H, W] floats in [0, 1]
// (pixel / 255) for images, normalised inside the graph with the training set's per-channel mean
// and standard deviation, as gq-train feeds the model; [N, F] features for text. Output "logits":
// [N, classes]. Evaluation mode (BatchNorm's running statistics, dropout off, no test-time
// augmentation). The encoding is ONNX's own protobuf classes (Debian's libonnx), and ONNX's checker
// and strict shape inference verify the model before it is returned.
#pragma once

#include <string>

#include "runtime/train/checkpoint_model.h"

namespace gq::train {

// The serialised model. `step` is recorded in the metadata. gq::Error naming a layer without an
// ONNX form (models/layer.h, add_to_graph) or what ONNX's checker refused.
std::string onnx_bytes(CheckpointModel& model, long step);

}  // namespace gq::train
