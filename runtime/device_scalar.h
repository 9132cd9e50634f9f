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
  // In a kernel.
  GQ_HD T get() const { return at ? *at * scale + value : value; }
};

}  // namespace gq
