// Bookkeeping of the emulator's "device" memory (host memory), shared by device.cpp and memory.cpp.
#pragma once

#include <cstddef>

namespace gq::detail {
std::size_t emulated_memory_total();   // the limit if set, else physical memory
std::size_t emulated_memory_in_use();  // bytes currently allocated through device_malloc
}  // namespace gq::detail
