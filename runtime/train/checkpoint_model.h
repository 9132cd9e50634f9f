// A checkpoint's model rebuilt for inference without its run: no dataset, no optimizer, no
// step buffers. The zoo builds the model for the checkpoint's recorded input, the checkpoint's
// tensors are loaded by name (runtime/train/checkpoint_tensors.h: every tensor of the model must
// be there with its shape, and nothing else), BatchNorm's running statistics included, and
// forward runs in evaluation mode. gq-predict classifies image files with it; gq-export's ONNX
// writer asks its layers for their graph.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/sequential.h"
#include "runtime/memory.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/checkpoint_tensors.h"

namespace gq::train {

class CheckpointModel {
 public:
  // batch: the most samples one logits() call takes. gq::Error naming `source` when the
  // checkpoint lacks what this needs or its tensors are not the model's.
  CheckpointModel(const Checkpoint& ck, const std::string& source, int batch);

  const std::string& name() const { return name_; }
  const ModelInput& input() const { return input_; }
  models::Sequential& model() { return *model_; }
  // The values of each tensor by name (parameters and model state) as the checkpoint holds them.
  const std::vector<CheckpointTensor>& tensors() const { return tensors_; }

  // samples: n <= batch samples, each as the model reads them before normalisation (images:
  // planes in [0, 1], i.e. pixel / 255; text: features). Returns n x classes logits.
  std::vector<float> logits(const std::vector<float>& samples, int n);

 private:
  std::string name_;
  ModelInput input_;
  std::vector<CheckpointTensor> tensors_;
  std::unique_ptr<models::Sequential> model_;
  DeviceBuffer<float> x_;
};

}  // namespace gq::train
