#include "runtime/train/gq_shard.h"

#include "kernels/kmeans.h"
#include "runtime/error.h"
#include "runtime/portable.cuh"

namespace gq::train {
namespace {

constexpr int kMaxK = 64;
constexpr unsigned kBlock = 256;

// One block, one thread per cluster: count this rank's members, prefix-sum the counts, write.
__global__ void __launch_bounds__(kMaxK)
    shard_clustering_kernel(const int* __restrict__ order, const int* __restrict__ offsets, int k,
                            int first, int local_b, int ranks, int* __restrict__ local_order,
                            int* __restrict__ local_offsets, int* __restrict__ local_sizes,
                            float* __restrict__ factors) {
  __shared__ int counts[kMaxK];
  __shared__ int starts[kMaxK];
  const int c = static_cast<int>(threadIdx.x);
  int n = 0;
  if (c < k) {
    for (int j = offsets[c]; j < offsets[c + 1]; ++j) {
      const int i = order[j];
      n += i >= first && i < first + local_b;
    }
    counts[c] = n;
  }
  __syncthreads();
  if (c == 0) {
    int at = 0;
    for (int q = 0; q < k; ++q) {
      starts[q] = at;
      local_offsets[q] = at;
      at += counts[q];
    }
    local_offsets[k] = at;
  }
  __syncthreads();
  if (c < k) {
    int at = starts[c];
    for (int j = offsets[c]; j < offsets[c + 1]; ++j) {
      const int i = order[j];
      if (i >= first && i < first + local_b) local_order[at++] = i - first;
    }
    local_sizes[c] = n;
    const int total = offsets[c + 1] - offsets[c];
    factors[c] = total > 0 ? static_cast<float>(ranks) * static_cast<float>(n) /
                                 static_cast<float>(total)
                           : 0.0f;
  }
}

__global__ void __launch_bounds__(kBlock)
    scale_rows_kernel(float* __restrict__ data, std::size_t rows, std::size_t cols, std::size_t ld,
                      const float* __restrict__ factors) {
  for (std::size_t i : grid_range(rows * cols)) {
    const std::size_t r = i / cols, j = i % cols;
    data[r * ld + j] *= factors[r];
  }
}

}  // namespace

void shard_clustering(const kernels::Clustering& global, int first, int ranks,
                      const kernels::Clustering& local, float* factors, stream_t stream) {
  GQ_CHECK(global.k == local.k && global.k >= 1 && global.k <= kMaxK,
           "shard_clustering: k = {} / {} (at most {})", global.k, local.k, kMaxK);
  GQ_CHECK(first >= 0 && first + local.b <= global.b, "shard_clustering: [{}, {}) outside {}",
           first, first + local.b, global.b);
  launch(shard_clustering_kernel, 1u, static_cast<unsigned>(kMaxK), 0, stream, global.order,
         global.offsets, global.k, first, local.b, ranks, local.order, local.offsets, local.sizes,
         factors);
}

void scale_rows(MatrixView rows, const float* factors, stream_t stream) {
  if (rows.rows == 0 || rows.cols == 0) return;
  launch(scale_rows_kernel, grid_stride_blocks(rows.rows * rows.cols, kBlock), kBlock, 0, stream,
         rows.data, rows.rows, rows.cols, rows.ld, factors);
}

}  // namespace gq::train
