#include "runtime/launch_check.h"

#include <cxxabi.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "runtime/error.h"

#if GQ_WITH_CUDA
#include <cuda_runtime_api.h>
#else
#include "runtime/emulated_streams.h"
#endif

namespace gq::detail {
namespace {

std::atomic<bool>& sync_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("GQ_SYNC_EVERY_LAUNCH");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }()};
  return on;
}

// The kernel's name: CUDA's own record of it, or the emulator binary's symbol (demangled; found
// when the executable exports its symbols), else its address.
std::string kernel_name(const void* kernel) {
#if GQ_WITH_CUDA
  const char* name = nullptr;
  if (cudaFuncGetName(&name, kernel) == cudaSuccess && name != nullptr) return name;
  (void)cudaGetLastError();
#else
  Dl_info info{};
  if (dladdr(kernel, &info) != 0 && info.dli_sname != nullptr) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> demangled(
        abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status), std::free);
    return status == 0 ? demangled.get() : info.dli_sname;
  }
#endif
  return format_message("at {}", kernel);
}

[[noreturn]] void fail(const void* kernel, const std::string& error) {
  GQ_FAIL("kernel {} failed: {} (GQ_SYNC_EVERY_LAUNCH: checked right after its launch)",
          kernel_name(kernel), error);
}

}  // namespace

bool sync_every_launch() {
  return sync_flag().load(std::memory_order_relaxed);
}
void set_sync_every_launch(bool on) {
  sync_flag() = on;
}

void check_launched(const void* kernel, stream_t stream) {
#if GQ_WITH_CUDA
  const cudaError_t err = cudaStreamSynchronize(stream);
  if (err != cudaSuccess) fail(kernel, format_message("{} ({})", cudaGetErrorString(err),
                                                      cudaGetErrorName(err)));
#else
  try {
    run_pending(stream);
  } catch (const std::exception& e) {
    fail(kernel, e.what());
  }
#endif
}

}  // namespace gq::detail
