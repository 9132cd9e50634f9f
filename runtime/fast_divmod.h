// Division by a run-time constant as a multiply and a shift (Granlund & Montgomery, "Division by
// invariant integers using multiplication", PLDI 1994, Fig. 4.1). Index arithmetic in kernels
// (n / w, n % w for every element) otherwise pays a hardware divide: ~25-90 cycles on x86 and a
// ~20-instruction sequence on a GPU. Exact for every 32-bit dividend and divisor >= 1.
#pragma once

#include <cstdint>

#include "runtime/host_device.h"

namespace gq {

class FastDivmod {
 public:
  FastDivmod() = default;
  // Host only (the setup loops); pass the object to kernels by value.
  explicit FastDivmod(std::uint32_t divisor) : divisor_(divisor) {
    while ((std::uint64_t{1} << shift_) < divisor) ++shift_;  // shift = ceil(log2 divisor)
    multiplier_ = static_cast<std::uint32_t>(
        ((std::uint64_t{1} << 32) * ((std::uint64_t{1} << shift_) - divisor)) / divisor + 1);
  }
  GQ_HD std::uint32_t divisor() const { return divisor_; }
  GQ_HD std::uint32_t div(std::uint32_t n) const {
    const auto t = static_cast<std::uint32_t>((static_cast<std::uint64_t>(n) * multiplier_) >> 32);
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(t) + n) >> shift_);
  }
  // quotient = n / divisor, remainder = n % divisor
  GQ_HD void divmod(std::uint32_t n, std::uint32_t& quotient, std::uint32_t& remainder) const {
    quotient = div(n);
    remainder = n - quotient * divisor_;
  }

 private:
  std::uint32_t divisor_ = 1, multiplier_ = 1, shift_ = 0;
};

}  // namespace gq
