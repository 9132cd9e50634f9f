// LARS: layer-wise adaptive rate scaling (You, Gitman, Ginsburg 2017) with SGD momentum, in the
// form of NVIDIA's LARC / torchlars: each adapted tensor's gradient is rescaled by its trust ratio
// before an ordinary momentum step, so the schedule's learning rate keeps its usual meaning.
// Everything runs on the stream without a host synchronisation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/device_scalar.h"
#include "runtime/stream.h"

namespace gq::kernels {

// param, grad, momentum_buf: n floats, the concatenation of `tensors` tensors; tensor t is
// [tensor_offsets[t], tensor_offsets[t + 1]) (device ints, ascending, first 0, last n). The first
// `adapted` tensors (the registry's decayed weights) get, with norms in float:
//   trust_t = eta ||w_t|| / (||g_t|| + weight_decay ||w_t||) if ||w_t|| > 0 and ||g_t|| > 0, else 1;
//   g' = trust_t (g + weight_decay w);
// the others (biases, normalisation parameters) g' = g. Then buf = momentum buf + g' and
// param -= lr buf (buf starts zeroed). trust: `tensors` floats of device memory, written with the
// ratios (1 for the tensors that are not adapted), for diagnostics.
// apply (optional, device): when it holds 0 the step changes nothing (see sgd_step). lr may be
// device memory read when the kernel runs (runtime/device_scalar.h).
// Launches: 2 (per-tensor norms, one block per tensor; then the update, blocks per tensor).
void lars_step(float* param, const float* grad, float* momentum_buf, std::size_t n,
               const int* tensor_offsets, int tensors, int adapted, DeviceScalar<float> lr,
               float momentum, float weight_decay, float eta, float* trust,
               stream_t stream = nullptr, const std::int32_t* apply = nullptr);

}  // namespace gq::kernels
