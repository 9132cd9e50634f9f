#include "kernels/cases/kernel_case.h"

#include "kernels/cases/case_files.h"
#include "runtime/rng.h"

namespace gq::cases {

const std::vector<KernelCase>& all_kernel_cases() {
  static const std::vector<KernelCase> all = [] {
    std::vector<KernelCase> out;
    for (auto add : {reduce_cases, elementwise_cases, transpose_cases, bias_cases, pool_cases,
                     activation_cases, dropout_cases, matrix_rows_cases, gather_cases, loss_cases,
                     norm_cases, optim_cases, lars_cases, precision_cases, tta_cases,
                     weight_average_cases, augment_cases, gradient_ring_cases,
                     gradient_ring_bf16_cases, scarcity_cases, kmeans_cases, per_sample_cases,
                     per_cluster_grad_cases})
      for (KernelCase& c : add()) out.push_back(std::move(c));
    return out;
  }();
  return all;
}

std::size_t numel(const Dims& dims) {
  std::size_t n = 1;
  for (std::size_t d : dims) n *= d;
  return n;
}

std::string to_string(const Dims& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}

std::vector<float> seeded(std::size_t n, std::uint64_t seed, std::uint64_t stream, float lo,
                          float hi) {
  HostRng rng(seed, stream);
  std::vector<float> v(n);
  for (float& x : v) x = lo + (hi - lo) * rng.uniform();
  return v;
}

}  // namespace gq::cases
