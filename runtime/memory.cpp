#include "runtime/memory.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "runtime/capture.h"
#include "runtime/error.h"
#include "runtime/launch_counters.h"

#if GQ_WITH_CUDA
#include <cuda_runtime_api.h>

#include "runtime/cuda_check.h"
#else
#include <unistd.h>

#include "runtime/emulated_memory.h"
#include "runtime/emulated_streams.h"
#endif

namespace gq {

namespace {
std::string mib(std::size_t bytes) {
  return fmt::format("{:.1f} MiB", bytes / 1048576.0);
}

// What cannot be inside a CUDA graph capture (runtime/graph.h), checked the same way in both builds
// before any CUDA call, so the emulator reports what the GPU would.
constexpr const char* kHostCopy =
    "a host-synchronous copy cannot be in a graph; do it before begin_capture or after end_capture";
void forbid_malloc_in_capture() {
  detail::forbid_in_capture("device_malloc (a device allocation, e.g. a DeviceBuffer)",
                            "allocate everything before begin_capture (the graph reuses the same "
                            "addresses every replay)");
}
}  // namespace

#if GQ_WITH_CUDA

void* device_malloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  forbid_malloc_in_capture();
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the sticky-free error state
    std::size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw OutOfMemory(fmt::format(
        "out of device memory: requested {}, {} free of {}; lower --batch-size or the model size",
        mib(bytes), mib(free_b), mib(total_b)));
  }
  GQ_CUDA_CHECK(err);
  return p;
}

void device_free(void* ptr) noexcept {
  if (!ptr) return;
  if (detail::t_capture != nullptr) [[unlikely]]
    return detail::defer_free(ptr);
  cudaFree(ptr);
}

void copy_to_device(void* dst, const void* src, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  detail::forbid_in_capture("copy_to_device (DeviceBuffer upload)", kHostCopy);
  GQ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
  detail::count_copy();
}

void copy_to_host(void* dst, const void* src, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  detail::forbid_in_capture("copy_to_host (DeviceBuffer download / to_host)", kHostCopy);
  GQ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  GQ_CUDA_CHECK(cudaStreamSynchronize(stream));  // the host data is valid on return
  detail::count_copy();
}

void copy_on_device(void* dst, const void* src, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  const bool captured = detail::t_capture != nullptr;  // then CUDA records it; counted at replay
  if (captured) [[unlikely]]
    detail::note_captured(stream, detail::OpKind::copy, "copy_on_device");
  GQ_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
  if (!captured) detail::count_copy();
}

void memset_device(void* dst, int byte, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  const bool captured = detail::t_capture != nullptr;
  if (captured) [[unlikely]]
    detail::note_captured(stream, detail::OpKind::memset, "memset_device");
  GQ_CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, stream));
  if (!captured) detail::count_memset();
}

void set_emulated_memory_limit(std::size_t) {}

#else  // emulator: device memory is host memory

namespace {
constexpr std::size_t kAlign = 64;  // header size too, so the user pointer stays aligned
std::atomic<std::size_t> g_in_use{0};
std::atomic<std::size_t> g_limit{0};
}  // namespace

namespace detail {
std::size_t emulated_memory_total() {
  const std::size_t limit = g_limit.load();
  if (limit) return limit;
  return static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) *
         static_cast<std::size_t>(sysconf(_SC_PAGE_SIZE));
}
std::size_t emulated_memory_in_use() {
  return g_in_use.load();
}
}  // namespace detail

void set_emulated_memory_limit(std::size_t bytes) {
  g_limit = bytes;
}

void* device_malloc(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  forbid_malloc_in_capture();
  const std::size_t total = detail::emulated_memory_total();
  const std::size_t used = g_in_use.fetch_add(bytes) + bytes;
  void* raw = used <= total
                  ? std::aligned_alloc(kAlign, kAlign + (bytes + kAlign - 1) / kAlign * kAlign)
                  : nullptr;
  if (!raw) {
    g_in_use -= bytes;
    if (used > total)
      throw OutOfMemory(fmt::format(
          "out of device memory (emulator): requested {}, {} free of {}; lower --batch-size or "
          "the model size",
          mib(bytes), mib(total - std::min(total, used - bytes)), mib(total)));
    throw OutOfMemory(fmt::format(
        "out of host memory for the emulated device: requested {} ({} in use on it); lower "
        "--batch-size or the model size",
        mib(bytes), mib(used - bytes)));
  }
  std::memcpy(raw, &bytes, sizeof(bytes));
  void* user = static_cast<char*>(raw) + kAlign;
  // Poison: a kernel that reads memory nobody wrote sees NaN (float) or -1 (int).
  std::memset(user, 0xFF, bytes);
  return user;
}

void device_free(void* ptr) noexcept {
  if (!ptr) return;
  if (detail::t_capture != nullptr) [[unlikely]]
    return detail::defer_free(ptr);
  detail::run_all_pending_noexcept();  // cudaFree waits for the device's work
  void* raw = static_cast<char*>(ptr) - kAlign;
  std::size_t bytes = 0;
  std::memcpy(&bytes, raw, sizeof(bytes));
  g_in_use -= bytes;
  std::free(raw);
}

void copy_to_device(void* dst, const void* src, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  detail::forbid_in_capture("copy_to_device (DeviceBuffer upload)", kHostCopy);
  if (detail::streams_deferred()) [[unlikely]] {  // staged now, written when the stream runs
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src),
                                                      static_cast<const char*>(src) + bytes);
    auto write = [=] {
      std::memcpy(dst, staged->data(), bytes);
      detail::count_copy();
    };
    if (detail::defer(stream, {0, 1, 0}, write)) return;
  }
  std::memcpy(dst, src, bytes);
  detail::count_copy();
}
void copy_to_host(void* dst, const void* src, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  detail::forbid_in_capture("copy_to_host (DeviceBuffer download / to_host)", kHostCopy);
  detail::run_pending(stream);  // the host data is valid on return: the stream's work has run
  std::memcpy(dst, src, bytes);
  detail::count_copy();
}
void copy_on_device(void* dst, const void* src, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  if (detail::t_capture != nullptr) [[unlikely]] {  // recorded; replay calls this again
    detail::record(
        stream, detail::OpKind::copy, "copy_on_device",
        [=] { copy_on_device(dst, src, bytes, stream); }, 4 * sizeof(void*));
    return;
  }
  if (detail::defer(stream, {0, 1, 0}, [=] { copy_on_device(dst, src, bytes, stream); })) return;
  std::memmove(dst, src, bytes);
  detail::count_copy();
}
void memset_device(void* dst, int byte, std::size_t bytes, stream_t stream) {
  if (!bytes) return;
  if (detail::t_capture != nullptr) [[unlikely]] {
    detail::record(
        stream, detail::OpKind::memset, "memset_device",
        [=] { memset_device(dst, byte, bytes, stream); }, 4 * sizeof(void*));
    return;
  }
  if (detail::defer(stream, {0, 0, 1}, [=] { memset_device(dst, byte, bytes, stream); })) return;
  std::memset(dst, byte, bytes);
  detail::count_memset();
}

#endif

}  // namespace gq
