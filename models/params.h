// The parameter registry: every parameter tensor has a name and a place in one flat parameter
// vector, with a matching place in one flat gradient vector. Optimizers and Grad Queue work on the
// flat vectors; layers address their own slices. Tensors with weight decay come first, so the
// decayed parameters are one contiguous range [0, decayed_count()); frozen tensors (set once,
// never trained: a BatchNorm scale fixed at 1, a whitening filter bank) come last, so the trainable
// ones are [0, trainable_count()). A frozen tensor is still saved, restored and checked with the
// rest (it lives in the same vector); its gradient is never written (it stays 0), and it is not
// counted as a trainable parameter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/memory.h"
#include "runtime/tensor.h"

namespace gq::models {

enum class Init {
  zeros,
  ones,
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for conv and linear weights and biases
  // (kaiming_uniform with a = sqrt(5)); He's sqrt(6/fan_in) bound makes the initial logits of
  // these nets ~3x too large (initial loss ~7 instead of ln 10).
  uniform_fan_in,
  // uniform_fan_in, then torch.nn.init.dirac_ on the first min(out, in) output channels of an
  // [out, in, kh, kw] weight (airbench94's conv init): w[o][i] = 0 for i != o and w[o][o] a delta
  // at (kh / 2, kw / 2), so the layer starts as the identity on its first input channels.
  uniform_fan_in_dirac,
};

struct ParamInfo {
  std::string name;  // "conv1.weight"
  Shape shape;
  bool decay = true;  // weight decay applies
  bool frozen = false;  // never trained (no decay either); placed after every trainable tensor
  Init init = Init::zeros;
  std::int64_t fan_in = 1;
  std::size_t offset = 0;  // into the flat vectors (valid after allocate())
  // A normalisation layer's scale or shift (mark_normalization): optimizers may give these their
  // own learning rate (--norm-bias-lr-scale, airbench94's BatchNorm shifts at 64x).
  bool normalization = false;
  std::size_t numel() const { return static_cast<std::size_t>(shape.numel()); }
};

class ParamRegistry {
 public:
  using Id = int;
  // Registers a tensor; its memory exists after allocate().
  Id add(std::string name, Shape shape, bool decay, Init init, std::int64_t fan_in = 1);
  // Registers a frozen tensor: initialised like any other (or written by its layer), never trained.
  Id add_frozen(std::string name, Shape shape, Init init, std::int64_t fan_in = 1);
  // Marks tensor id as a normalisation layer's parameter (ParamInfo::normalization).
  void mark_normalization(Id id) { infos_[id].normalization = true; }
  // Lays out the flat vectors (decayed tensors, then the other trainable ones, then the frozen
  // ones, each group in registration order) and allocates them; the gradients start at 0.
  void allocate();
  // Initialises every tensor from (seed, tensor index): identical on every device.
  void initialize(std::uint64_t seed, stream_t stream = nullptr);

  float* value(Id id) { return values_.data() + infos_[id].offset; }
  float* grad(Id id) { return grads_.data() + infos_[id].offset; }
  const ParamInfo& info(Id id) const { return infos_[id]; }
  const std::vector<ParamInfo>& infos() const { return infos_; }

  // Tensor id's columns of a matrix whose every row is laid out like the flat vector.
  MatrixView columns(Id id, MatrixView rows) const {
    return {rows.data + infos_[id].offset, rows.rows, infos_[id].numel(), rows.ld};
  }
  // Copies tensor id's gradient into its columns of every row.
  void grad_in_every_row(Id id, MatrixView rows, stream_t stream = nullptr);

  float* values() { return values_.data(); }
  float* grads() { return grads_.data(); }
  std::size_t size() const { return total_; }
  std::size_t decayed_count() const { return decayed_; }
  // The trainable range [0, trainable_count()): what an optimizer steps.
  std::size_t trainable_count() const { return trainable_; }
  bool allocated() const { return !values_.empty() || total_ == 0; }

 private:
  std::vector<ParamInfo> infos_;
  std::size_t total_ = 0, decayed_ = 0, trainable_ = 0;
  DeviceBuffer<float> values_, grads_;
};

}  // namespace gq::models
