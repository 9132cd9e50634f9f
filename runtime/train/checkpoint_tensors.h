// A checkpoint's model read back by name, without its run: the parameter tensors (the header's
// "tensors", each at its "tensor_offsets" entry in the flat "params" section: the registry groups
// decayed, other trainable and frozen tensors, so listing order is not layout order), the model
// state ("model_state", a section each), and what the model reads ("input": one sample's shape, the
// per-channel normalisation, the class names). What gq-export and gq-predict read. Host only; a
// checkpoint is untrusted input: every name, shape and offset is checked against the sections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/train/checkpoint.h"

namespace gq::train {

struct CheckpointTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  const float* data;  // into the checkpoint's sections
  std::size_t size;
};

// Parameters in listing (registration) order, then the model state. gq::Error naming `source` when
// the header does not name its tensors or where they lie (written by an older gq-train), or when
// names, shapes and offsets do not tile the sections exactly.
std::vector<CheckpointTensor> checkpoint_tensors(const Checkpoint& ck, const std::string& source);

// What the model was trained on: x = (pixel / 255 - mean[c]) / stddev[c] for images; features as
// they are for text (mean and stddev empty).
struct ModelInput {
  std::vector<std::int64_t> shape;  // one sample: [C, H, W] or [F]
  std::vector<float> mean, stddev;  // per channel (images)
  std::vector<std::string> classes;
  bool image() const { return shape.size() == 3; }
};

// The header's "input", checked (1 to 4 channels of at most 4096 x 4096, features at most 2^24, a
// positive finite stddev, 2 to 100000 class names).
ModelInput checkpoint_input(const Checkpoint& ck, const std::string& source);

}  // namespace gq::train
