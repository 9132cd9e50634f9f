// The step gate: one thread writes one int. Launch shape 1x1; memory traffic 16 bytes.
#include "kernels/step_gate.h"

#include "runtime/portable.cuh"

namespace gq::kernels {
namespace {

__global__ void gate_before_step_kernel(DeviceScalar<std::uint64_t> step, std::uint64_t until,
                                        const std::int32_t* apply, std::int32_t* out) {
  *out = step.get() < until && (apply == nullptr || *apply != 0) ? 1 : 0;
}

}  // namespace

void gate_before_step(DeviceScalar<std::uint64_t> step, std::uint64_t until,
                      const std::int32_t* apply, std::int32_t* out, stream_t stream) {
  launch(gate_before_step_kernel, 1, 1, 0, stream, step, until, apply, out);
}

}  // namespace gq::kernels
