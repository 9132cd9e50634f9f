// Builds a batch of feature rows from a device-resident float dataset (text datasets: bag-of-words
// rows), the counterpart of gather_augment for images.
#pragma once

#include <cstdint>

#include "runtime/stream.h"

namespace gq::kernels {

// out[b][:] = features[indices[b]][:] (dim floats per row); labels_out[b] = labels[indices[b]].
void gather_rows(const float* features, const std::int32_t* labels, const std::int32_t* indices,
                 int batch, int dim, float* out, std::int32_t* labels_out,
                 stream_t stream = nullptr);

}  // namespace gq::kernels
