// A small device tensor: float32 storage (room for bf16 later) with a shape of up to 4 dims,
// row-major (NCHW for images). Tensor owns its memory; TensorView is a non-owning window that
// kernels and layers take, so plans can carve many views out of one allocation; MatrixView is a
// row-strided window (some columns of every row of a wider matrix).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "runtime/error.h"
#include "runtime/memory.h"

namespace gq {

enum class DType : std::uint8_t { f32 };

struct Shape {
  static constexpr int kMaxDims = 4;
  std::array<std::int64_t, kMaxDims> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> d) {
    GQ_CHECK(d.size() <= kMaxDims, "shape has {} dims; at most {} are supported", d.size(),
             kMaxDims);
    for (std::int64_t x : d) {
      GQ_CHECK(x >= 0, "negative dimension {} in shape", x);
      dims[rank++] = x;
    }
  }
  std::int64_t operator[](int i) const { return dims[i]; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
  }
};

struct TensorView {
  float* data = nullptr;
  Shape shape;
  std::int64_t numel() const { return shape.numel(); }
};

// rows x cols floats, row r at data + r * ld (ld >= cols).
struct MatrixView {
  float* data = nullptr;
  std::size_t rows = 0, cols = 0, ld = 0;
  float* row(std::size_t r) const { return data + r * ld; }
  static MatrixView dense(float* data, std::size_t rows, std::size_t cols) {
    return {data, rows, cols, cols};
  }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape) : shape_(shape), storage_(static_cast<std::size_t>(shape.numel())) {}

  float* data() { return storage_.data(); }
  const float* data() const { return storage_.data(); }
  const Shape& shape() const { return shape_; }
  std::int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return DType::f32; }
  TensorView view() { return {storage_.data(), shape_}; }

  void upload(std::span<const float> host) {
    GQ_CHECK(static_cast<std::int64_t>(host.size()) == numel(),
             "upload of {} values into a tensor of shape {}", host.size(), shape_.str());
    storage_.upload(host);
  }
  std::vector<float> to_host() const { return storage_.to_host(); }

 private:
  Shape shape_;
  DeviceBuffer<float> storage_;
};

}  // namespace gq
