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
  int sm_clock_khz = 0;             // peak clocks (0 if unknown: the emulator)
  int memory_clock_khz = 0;
  // As nvidia-smi names it: Default, Exclusive_Process or Prohibited (the emulator: Default).
  // Not Default: one process at a time may use the device.
  std::string compute_mode = "Default";
};

// Number of visible devices (the emulator counts as one).
int device_count();
// Makes `ordinal` the current device; throws gq::Error naming the valid range if it does not exist.
void select_device(int ordinal);
// Properties of the current device (queried once, cached).
const DeviceInfo& device_info();
// Free and total device memory in bytes, as of now.
void device_memory(std::size_t* free_bytes, std::size_t* total_bytes);
// Versions as "major.minor" of the CUDA driver (what it supports) and of the CUDA runtime this
// binary links; "emulator" in the emulator build. They name a driver too old for the runtime
// before any kernel fails. No device needed: a machine without a driver reports driver "none".
std::string driver_version();
std::string runtime_version();
// True when this binary was built for the GPU (GQ_CUDA=ON).
constexpr bool built_for_gpu() {
#if GQ_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace gq
