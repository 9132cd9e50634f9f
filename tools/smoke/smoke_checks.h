// The smoke checks of gq-gpu-smoke: each runs one small piece of device work through the
// project's own layers and compares it with a host reference. A check returns a short detail
// on success and throws (gq::Error, or the library's error as one) on any failure.
#pragma once

#include <string>

namespace gq::smoke {

std::string check_gemm();             // blas::gemm, A x B^T
std::string check_conv_forward();     // dnn::Conv2d::forward
std::string check_conv_backward();    // backward_data and backward_filter
std::string check_graph();            // a captured graph: a Conv2d forward + fused k-means

}  // namespace gq::smoke
