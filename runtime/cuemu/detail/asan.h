// AddressSanitizer fiber annotations; no-ops in ordinary builds.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUEMU_ASAN 1
#else
#define CUEMU_ASAN 0
#endif

namespace cuemu::detail {

inline void asan_start_switch(void** fake_save, const void* bottom, std::size_t size) {
#if CUEMU_ASAN
  __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
  (void)fake_save, (void)bottom, (void)size;
#endif
}

inline void asan_finish_switch(void* fake_save, const void** bottom_old, std::size_t* size_old) {
#if CUEMU_ASAN
  __sanitizer_finish_switch_fiber(fake_save, bottom_old, size_old);
#else
  (void)fake_save, (void)bottom_old, (void)size_old;
#endif
}

inline void asan_unpoison(void* p, std::size_t n) {
#if CUEMU_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  (void)p, (void)n;
#endif
}

}  // namespace cuemu::detail
