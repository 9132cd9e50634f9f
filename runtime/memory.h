// Device memory: raw allocation, copies, memset, and the RAII DeviceBuffer<T> that owns it.
// On the emulator, device memory is host memory (64-byte aligned) filled with 0xFF bytes on
// allocation, so a kernel that reads memory nobody wrote sees NaN / -1 instead of a lucky zero.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "runtime/stream.h"

namespace gq {

// Allocates device memory; throws gq::OutOfMemory naming the request and what is free.
void* device_malloc(std::size_t bytes);
void device_free(void* ptr) noexcept;

void copy_to_device(void* dst, const void* src, std::size_t bytes, stream_t stream = nullptr);
void copy_to_host(void* dst, const void* src, std::size_t bytes, stream_t stream = nullptr);
void copy_on_device(void* dst, const void* src, std::size_t bytes, stream_t stream = nullptr);
void memset_device(void* dst, int byte, std::size_t bytes, stream_t stream = nullptr);

// Emulator only: caps total device memory (bytes), so out-of-memory paths can be tested.
// 0 removes the cap. No effect on the GPU.
void set_emulated_memory_limit(std::size_t bytes);

// An owning, typed device allocation. Move-only.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count)
      : data_(count ? static_cast<T*>(device_malloc(count * sizeof(T))) : nullptr), size_(count) {}
  explicit DeviceBuffer(std::span<const T> host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { device_free(data_); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      device_free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::span<T> span() { return {data_, size_}; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  bool empty() const { return size_ == 0; }

  void upload(std::span<const T> host, stream_t stream = nullptr) {
    copy_to_device(data_, host.data(), std::min(host.size(), size_) * sizeof(T), stream);
  }
  void download(std::span<T> host, stream_t stream = nullptr) const {
    copy_to_host(host.data(), data_, std::min(host.size(), size_) * sizeof(T), stream);
  }
  std::vector<T> to_host(stream_t stream = nullptr) const {
    std::vector<T> out(size_);
    download(out, stream);
    return out;
  }
  // Sets every byte to `byte` (0xFF poisons floats to NaN, the tests' "not written" marker).
  void fill_bytes(int byte, stream_t stream = nullptr) {
    memset_device(data_, byte, bytes(), stream);
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace gq
