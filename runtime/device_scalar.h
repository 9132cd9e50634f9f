// A scalar kernel argument that is either fixed when the launch is issued or read from device
// memory when the kernel runs. A CUDA graph replays every launch with the arguments of its
// capture (runtime/graph.h), so whatever changes from step to step (the step number, the learning
// rate) reaches a captured kernel only the second way. Implicit from a value, so callers that pass
// plain values do not change.
//
// The device form is value + scale * (*at): an affine function of one device counter, which is
// what the step's users need (a Philox stream derived from the step, AdamW's t = step + 1). The
// arithmetic is T's own (unsigned: modulo 2^64). For floats use `at` alone (x * 1 + 0 is x).
#pragma once

#include <cmath>
#include <type_traits>

#include "runtime/host_device.h"

namespace gq {

template <class T>
struct DeviceScalar {
  T value{};              // the value; with `at`, the addend
  const T* at = nullptr;  // device memory read when the kernel runs
  T scale{1};

  constexpr DeviceScalar(T v = T{}) : value(v) {}  // NOLINT: implicit by design
  static constexpr DeviceScalar read(const T* device) {
    DeviceScalar s;
    s.at = device;
    return s;
  }
  // This scalar times mul plus add, in the same form.
  constexpr DeviceScalar affine(T mul, T add) const {
    DeviceScalar s(value * mul + add);
    s.at = at;
    s.scale = scale * mul;
    return s;
  }
  bool on_device() const { return at != nullptr; }
  // In a kernel. For floats the multiply-add is an explicit fma: nvcc and g++ each fused it
  // anyway (their contraction defaults), and written out it is the same on both by definition, so
  // the kernels that read a learning rate keep no implicit contraction (tools/parity/
  // check_contraction.py). With scale 1 and value 0 (DeviceScalar<float>::read) it is *at exactly.
  GQ_HD T get() const {
    if (!at) return value;
    if constexpr (std::is_same_v<T, float>)
      return fmaf(*at, scale, value);
    else if constexpr (std::is_same_v<T, double>)
      return fma(*at, scale, value);
    else
      return *at * scale + value;
  }
};

}  // namespace gq
