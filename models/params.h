// The parameter registry: every trainable tensor has a name and a place in one flat parameter
// vector, with a matching place in one flat gradient vector. Optimizers and Grad Queue work on the
// flat vectors; layers address their own slices. Tensors with weight decay come first, so the
// decayed parameters are one contiguous range [0, decayed_count()).
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
};

struct ParamInfo {
  std::string name;  // "conv1.weight"
  Shape shape;
  bool decay = true;  // weight decay applies
  Init init = Init::zeros;
  std::int64_t fan_in = 1;
  std::size_t offset = 0;  // into the flat vectors (valid after allocate())
  std::size_t numel() const { return static_cast<std::size_t>(shape.numel()); }
};

class ParamRegistry {
 public:
  using Id = int;
  // Registers a tensor; its memory exists after allocate().
  Id add(std::string name, Shape shape, bool decay, Init init, std::int64_t fan_in = 1);
  // Lays out the flat vectors (decayed tensors first, each group in registration order) and
  // allocates them.
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
  bool allocated() const { return !values_.empty() || total_ == 0; }

 private:
  std::vector<ParamInfo> infos_;
  std::size_t total_ = 0, decayed_ = 0;
  DeviceBuffer<float> values_, grads_;
};

}  // namespace gq::models
