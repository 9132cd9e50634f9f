// All dataset readers: #include "datasets/datasets.h".
#pragma once

#include "datasets/cifar10.h"  // IWYU pragma: export
#include "datasets/dataset.h"  // IWYU pragma: export
#include "datasets/mnist.h"    // IWYU pragma: export
#include "datasets/reuters.h"  // IWYU pragma: export
