#include "runtime/device.h"

#include <unistd.h>

#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "runtime/error.h"

#if GQ_WITH_CUDA
#include <cuda_runtime_api.h>

#include "runtime/cuda_check.h"
#else
#include "runtime/cuemu/cuemu.h"
#include "runtime/emulated_memory.h"
#endif

namespace gq {
namespace {

std::mutex g_device_mutex;
std::optional<DeviceInfo> g_info;
int g_ordinal = 0;

#if GQ_WITH_CUDA
// The number of devices, at least one: on a machine without a GPU or driver this throws the
// "no CUDA device" error (runtime/cuda_check.h) instead of failing later in some other call.
int require_devices() {
  int n = 0;
  GQ_CUDA_CHECK(cudaGetDeviceCount(&n));
  GQ_CHECK(n > 0, "no CUDA device: cudaGetDeviceCount found none");
  return n;
}
#endif

#if GQ_WITH_CUDA
std::string compute_mode_name(int mode) {
  switch (mode) {
    case cudaComputeModeDefault: return "Default";
    case cudaComputeModeExclusiveProcess: return "Exclusive_Process";
    case cudaComputeModeProhibited: return "Prohibited";
    default: return fmt::format("unknown ({})", mode);
  }
}

// CUDA's version numbers: 1000 * major + 10 * minor (13000 -> "13.0").
std::string cuda_version_text(int version) {
  return fmt::format("{}.{}", version / 1000, version % 1000 / 10);
}
#endif

DeviceInfo query_device(int ordinal) {
  DeviceInfo info;
  info.ordinal = ordinal;
#if GQ_WITH_CUDA
  require_devices();
  cudaDeviceProp prop{};
  GQ_CUDA_CHECK(cudaGetDeviceProperties(&prop, ordinal));
  info.name = prop.name;
  info.sm_count = prop.multiProcessorCount;
  info.cc_major = prop.major;
  info.cc_minor = prop.minor;
  info.total_memory = prop.totalGlobalMem;
  info.shared_memory_per_block = prop.sharedMemPerBlockOptin;
  info.max_threads_per_block = prop.maxThreadsPerBlock;
  int clock_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, ordinal);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, ordinal);
  // DDR: two transfers per clock.
  info.memory_bandwidth_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  info.memory_clock_khz = clock_khz;
  cudaDeviceGetAttribute(&info.sm_clock_khz, cudaDevAttrClockRate, ordinal);
  int mode = cudaComputeModeDefault;
  cudaDeviceGetAttribute(&mode, cudaDevAttrComputeMode, ordinal);
  info.compute_mode = compute_mode_name(mode);
#else
  info.is_emulator = true;
  const int workers = cuemu::worker_count();
  // Taking the GPU's decisions includes sizing grids for its SMs (an H100/H200 has 132).
  info.sm_count = GQ_EMU_GPU_DECISIONS ? 132 : workers;
  info.name = fmt::format("cuemu CPU emulator ({} worker{}{})", workers, workers == 1 ? "" : "s",
                          GQ_EMU_GPU_DECISIONS ? ", GPU launch decisions for 132 SMs" : "");
  info.total_memory = detail::emulated_memory_total();
  info.shared_memory_per_block = 48 * 1024;
  info.max_threads_per_block = 1024;
#endif
  return info;
}

}  // namespace

int device_count() {
#if GQ_WITH_CUDA
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) return 0;
  GQ_CUDA_CHECK(err);
  return n;
#else
  return 1;
#endif
}

void select_device(int ordinal) {
#if GQ_WITH_CUDA
  const int n = require_devices();
#else
  const int n = device_count();
#endif
  GQ_CHECK(ordinal >= 0 && ordinal < n,
           "device {} does not exist: {} device(s) visible (valid ordinals 0..{})", ordinal, n,
           n - 1);
#if GQ_WITH_CUDA
  GQ_CUDA_CHECK(cudaSetDevice(ordinal));
#endif
  std::lock_guard lock(g_device_mutex);
  g_ordinal = ordinal;
  g_info.reset();
}

const DeviceInfo& device_info() {
  std::lock_guard lock(g_device_mutex);
  if (!g_info) g_info = query_device(g_ordinal);
  return *g_info;
}

std::string driver_version() {
#if GQ_WITH_CUDA
  int version = 0;
  const cudaError_t err = cudaDriverGetVersion(&version);
  if (err != cudaSuccess) return fmt::format("unknown ({})", cudaGetErrorString(err));
  return version == 0 ? "none" : cuda_version_text(version);
#else
  return "emulator";
#endif
}

std::string runtime_version() {
#if GQ_WITH_CUDA
  int version = 0;
  GQ_CUDA_CHECK(cudaRuntimeGetVersion(&version));
  return cuda_version_text(version);
#else
  return "emulator";
#endif
}

void device_memory(std::size_t* free_bytes, std::size_t* total_bytes) {
#if GQ_WITH_CUDA
  GQ_CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
#else
  *total_bytes = detail::emulated_memory_total();
  *free_bytes = *total_bytes - detail::emulated_memory_in_use();
#endif
}

}  // namespace gq
