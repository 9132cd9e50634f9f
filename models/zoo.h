// The model zoo (--model): paper-cnn, airbench, airbench94, mnist-cnn, mlp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/sequential.h"

namespace gq::models {

// Builds (but does not set up) the named model for inputs of one-sample shape `input` and
// `num_classes` outputs. Throws gq::Error listing the valid names for an unknown one.
std::unique_ptr<Sequential> build_model(const std::string& name, const Shape& input,
                                        int num_classes);
const std::vector<std::string>& model_names();

}  // namespace gq::models
