// k-means as kernels/kmeans.h defines it, on the host, operation for operation (the same Philox
// draws, float distance order, chunked tree sums and tie rules): the same bits as the device. The
// k-means kernel case's reference and tests/kernels/test_kmeans.cpp's (blobs, convergence,
// re-seeding, the edges).
#pragma once

#include <cstdint>
#include <vector>

namespace gq::cases {

struct HostClustering {
  std::vector<int> assignment, sizes, order, offsets;
  std::vector<float> centroids;
  int iterations = 0, converged = 0, k_effective = 0;
  int reseeds = 0;  // the reference's only: re-seeds that moved a centroid
};

// Clusters the b rows of x ([b, f]) into k clusters with at most max_iters Lloyd iterations.
HostClustering kmeans_reference(const std::vector<float>& x, int b, int f, int k, int max_iters,
                                std::uint64_t seed, std::uint64_t stream);

}  // namespace gq::cases
