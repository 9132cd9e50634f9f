// The case files of kernels/cases/, one function each (all_kernel_cases.cpp lists them), and what
// they share.
#pragma once

#include <memory>
#include <type_traits>
#include <vector>

#include "kernels/cases/kernel_case.h"
#include "runtime/bf16.h"
#include "runtime/memory.h"

namespace gq::cases {

std::vector<KernelCase> activation_cases();   // activation_cases.cpp
std::vector<KernelCase> bias_cases();         // bias_cases.cpp
std::vector<KernelCase> pool_cases();         // pool_cases.cpp
std::vector<KernelCase> dropout_cases();      // dropout_cases.cpp
std::vector<KernelCase> elementwise_cases();  // elementwise_cases.cpp
std::vector<KernelCase> reduce_cases();       // reduce_cases.cpp
std::vector<KernelCase> gradient_ring_bf16_cases();  // gradient_ring_bf16_cases.cpp
std::vector<KernelCase> transpose_cases();    // transpose_cases.cpp
std::vector<KernelCase> matrix_rows_cases();  // matrix_rows_cases.cpp
std::vector<KernelCase> gather_cases();       // gather_cases.cpp
std::vector<KernelCase> loss_cases();         // loss_cases.cpp
std::vector<KernelCase> norm_cases();         // norm_cases.cpp
std::vector<KernelCase> optim_cases();        // optim_cases.cpp
std::vector<KernelCase> lars_cases();         // lars_cases.cpp
std::vector<KernelCase> precision_cases();    // precision_cases.cpp
std::vector<KernelCase> tta_cases();          // tta_cases.cpp
std::vector<KernelCase> weight_average_cases();  // weight_average_cases.cpp
std::vector<KernelCase> augment_cases();      // augment_cases.cpp
std::vector<KernelCase> gradient_ring_cases();  // gradient_ring_cases.cpp
std::vector<KernelCase> scarcity_cases();     // scarcity_cases.cpp
std::vector<KernelCase> kmeans_cases();       // kmeans_cases.cpp
std::vector<KernelCase> per_sample_cases();   // per_sample_cases.cpp
std::vector<KernelCase> per_cluster_grad_cases();  // per_cluster_grad_cases.cpp

// A reference built value by value, each with the scale its tolerance applies to (a formula
// evaluated on its terms' magnitudes: no cancellation).
struct ScaledValues {
  std::vector<double> values, magnitudes;
  void add(double value, double magnitude) {
    values.push_back(value);
    magnitudes.push_back(magnitude);
  }
  void append(const ScaledValues& more) {
    values.insert(values.end(), more.values.begin(), more.values.end());
    magnitudes.insert(magnitudes.end(), more.magnitudes.begin(), more.magnitudes.end());
  }
  Reference reference() { return Reference(std::move(values), std::move(magnitudes)); }
};

// v on the device as T (float, or bf16: rounded to nearest even), and a device buffer of T read
// back as floats (bf16 widened exactly).
template <class T>
DeviceBuffer<T> device_values(const std::vector<float>& v) {
  std::vector<T> h;
  for (float x : v) h.push_back(stored_as<T>(x));
  return DeviceBuffer<T>(std::span<const T>(h));
}
template <class T>
std::vector<float> host_floats(const DeviceBuffer<T>& b) {
  std::vector<float> out;
  for (T v : b.to_host()) out.push_back(to_float(v));
  return out;
}

// v's values as storage T holds them (bf16: rounded to nearest even, runtime/bf16.h).
template <class T>
std::vector<float> as_stored(std::vector<float> v) {
  if constexpr (std::is_same_v<T, bf16>)
    for (float& x : v) x = to_float(to_bf16(x));
  return v;
}

// Device buffers of a case's inputs and outputs stored as T (float, or bf16 activations), shared
// by its launch and its read-back; outputs() reads them back as floats.
template <class T = float>
struct StoredBuffers {
  std::vector<DeviceBuffer<T>> in, out;
  std::vector<float> outputs() const {
    std::vector<float> all;
    for (const DeviceBuffer<T>& b : out) {
      const std::vector<float> h = host_floats(b);
      all.insert(all.end(), h.begin(), h.end());
    }
    return all;
  }
};
using Buffers = StoredBuffers<float>;

// Uploads `inputs` as T, and output buffers of the given sizes poisoned (every byte 0xFF: NaN in
// float and bf16) so that an element a kernel fails to write cannot pass for a result.
template <class T = float>
std::shared_ptr<StoredBuffers<T>> buffers(const std::vector<std::vector<float>>& inputs,
                                          const std::vector<std::size_t>& output_sizes) {
  auto b = std::make_shared<StoredBuffers<T>>();
  for (const std::vector<float>& v : inputs) b->in.push_back(device_values<T>(v));
  for (std::size_t n : output_sizes) {
    b->out.emplace_back(n);
    b->out.back().fill_bytes(0xff);
  }
  return b;
}

// `outputs` poisoned output buffers of n values each.
template <class T = float>
std::shared_ptr<StoredBuffers<T>> buffers(const std::vector<std::vector<float>>& inputs,
                                          int outputs, std::size_t n) {
  return buffers<T>(inputs, std::vector<std::size_t>(outputs, n));
}

}  // namespace gq::cases
