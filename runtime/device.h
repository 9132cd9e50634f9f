// Device selection and properties. The emulator reports itself as a device whose
// multiprocessors are its worker threads, so grid sizing code works unchanged on both.
#pragma once

#include <cstddef>
#include <string>

namespace gq {

struct DeviceInfo {
  std::string name;
  bool is_emulator = false;
  int ordinal = 0;
  int sm_count = 1;  // multiprocessors (emulator: worker threads)
  int cc_major = 0, cc_minor = 0;
  std::size_t total_memory = 0;  // bytes
  std::size_t shared_memory_per_block = 0;
  int max_threads_per_block = 1024;
  double memory_bandwidth_gbs = 0;  // peak estimate from the device attributes (0 if unknown)
};

// Number of visible devices (the emulator counts as one).
int device_count();
// Makes `ordinal` the current device; throws gq::Error naming the valid range if it does not exist.
void select_device(int ordinal);
// Properties of the current device (queried once, cached).
const DeviceInfo& device_info();
// Free and total device memory in bytes, as of now.
void device_memory(std::size_t* free_bytes, std::size_t* total_bytes);
// True when this binary was built for the GPU (GQ_CUDA=ON).
constexpr bool built_for_gpu() {
#if GQ_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace gq
