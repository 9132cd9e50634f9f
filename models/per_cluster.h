// Layer::per_cluster_grads for the layers with a weight and an optional bias (Conv2d, Linear),
// around their per-cluster gradient object (kernels/per_cluster_grad.h).
#pragma once

#include "kernels/clustering.h"
#include "kernels/matrix_rows.h"
#include "models/params.h"
#include "runtime/error.h"
#include "runtime/tensor.h"

namespace gq::models {

template <class PerClusterGrad>
void weight_and_bias_per_cluster(PerClusterGrad* grads, ParamRegistry& params,
                                 ParamRegistry::Id weight, ParamRegistry::Id bias, int batch,
                                 const float* x, const float* dy,
                                 const kernels::Clustering& clusters, MatrixView rows,
                                 stream_t stream) {
  GQ_CHECK(grads != nullptr, "per_cluster_grads called before prepare_per_cluster");
  const MatrixView gw = params.columns(weight, rows);
  const MatrixView gb = bias >= 0 ? params.columns(bias, rows) : MatrixView{};
  grads->compute(x, dy, clusters, gw, gb, stream);
  // dy is the gradient of the batch-mean loss (1/b) sum_i l_i, so the means of its per-sample
  // terms are g_c / b. One launch per matrix for all k rows.
  for (const MatrixView& m : {gw, gb})
    if (m.data) kernels::scale_rows(m, static_cast<float>(batch), stream);
}

}  // namespace gq::models
