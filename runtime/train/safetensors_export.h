// A checkpoint's model as a safetensors file, the format PyTorch, JAX and Hugging Face's tools
// load (safetensors.torch.load_file): an 8-byte little-endian header length, a JSON header giving
// each tensor's dtype, shape and byte range, then the tensors' bytes. Written: every parameter
// tensor under its name and shape (the checkpoint header's "tensors": "conv1.weight" [8, 1, 3, 3]),
// every model state tensor (its "model_state": "block1.norm1.running_mean" [64]), all F32, and the
// run's model, dataset, step and class count as metadata. Host only: nothing but the checkpoint is
// read.
#pragma once

#include <filesystem>
#include <string>

#include "runtime/train/checkpoint.h"

namespace gq::train {

// The file's bytes. A checkpoint is untrusted input: gq::Error naming `source` when its header
// does not list its tensors (written before they were named), or when the listed names, shapes and
// sizes do not add up to its sections.
std::string safetensors_bytes(const Checkpoint& ck, const std::string& source);

}  // namespace gq::train
