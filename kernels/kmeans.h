// On-device k-means for the batch clustering of docs/GRADQUEUE.md §5.2: k-means++ seeding from the
// run's Philox stream, Lloyd iterations with a device-side convergence flag, deterministic centroid
// update (stable counting sort by cluster, then a fixed-order sum per cluster), empty-cluster
// re-seeding; plus the row-wise L2 normalisation the features get first (§5.1).
// Everything is decided on the device: the number of launches is one (KMeansPlan::fused, a
// cooperative launch) or a function of (k, max_iters) only, nothing waits on the host, so a step
// can be graph-captured. Results are bit-identical run
// to run, and (the float operations and their order being the same on both) between the GPU and
// the emulator, as far as nvcc's IEEE float semantics go.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/clustering.h"
#include "runtime/device_scalar.h"
#include "runtime/stream.h"
#include "runtime/tensor.h"

namespace gq::kernels {

// Most clusters kmeans() accepts.
inline constexpr int kKMeansMaxClusters = 64;

struct KMeansResult {  // device memory, written by kmeans()
  int iterations;      // Lloyd iterations run (0 for k = 1 or max_iters = 0)
  int converged;       // 1 if an iteration changed no assignment (always 1 for k = 1)
  int k_effective;     // non-empty clusters at the end
};

// Scratch bytes for b points of f features and k clusters (allocate once; reuse every step).
std::size_t kmeans_scratch_bytes(int b, int f, int k);

// Clusters the b points (rows of `points`, [b, f], device) into k clusters (1 <= k <=
// kKMeansMaxClusters), entirely on the device. The exact definition (a host reference can
// reproduce it bit for bit):
//  - Distances: d(x, c) = sum_j (x_j - c_j)^2, accumulated in feature order as
//    acc = fmaf(x_j - c_j, x_j - c_j, acc) in float.
//  - Seeding (k-means++): centre 0 = point min(floor(u * b), b - 1), u = uniform01(word 0 of
//    philox_random4(seed, rng_stream, 0)). D(x) = min over chosen centres of d(x, centre). Centre
//    c = 1 .. min(k, b) - 1: u = uniform01(word 0 of philox_random4(seed, rng_stream, c)); the
//    points are taken in chunks of 256; each chunk's sum of D is a fixed pairwise tree (pad to
//    256 with zeros; for s = 128, 64, ..., 1: v[t] += v[t + s]); total = the chunk sums added in
//    order; target = u * total; the chosen chunk is the first whose running sum (in order)
//    exceeds target, and within it the first point whose running sum (continued from the chunks
//    before, adding D in index order) exceeds target (if rounding leaves none: the chunk's last
//    point with D > 0; if no chunk: the last point with D > 0). If total is 0 (duplicates), the
//    lowest-index point not yet chosen. Centres c >= b (k > b) are copies of point 0; they tie
//    with a lower-index centre everywhere and stay empty.
//  - Assignment: nearest centroid, ties to the lowest cluster index. One initial assignment
//    follows seeding; then each Lloyd iteration (at most max_iters): stable counting sort by
//    cluster; every non-empty cluster's centroid = (sum of its members' rows in ascending point
//    index, in float) / size; every empty cluster (ascending c) is re-seeded with the point of
//    largest assignment distance (distance to the centroid it was assigned to in the latest
//    assignment; ties to the lowest index; each point re-seeds at most one cluster per
//    iteration); then the assignment is recomputed. An iteration that changes no assignment sets
//    converged, and later iterations are no-ops on the device.
//  - Outputs describe the final assignment: sizes, order (points by cluster, ascending index
//    within a cluster), offsets (order[offsets[c] .. offsets[c+1]) are cluster c's members,
//    offsets[k] = b), centroids = the members' mean for non-empty clusters; a cluster empty at
//    the end is dropped (size 0; its centroid row holds its last seed and means nothing).
//  - k = 1: all points in cluster 0, centroid = the mean, iterations 0, converged 1.
// The points must be finite. scratch: kmeans_scratch_bytes(b, f, k) bytes of device memory.
// How the work is launched; the results are the same bits either way.
enum class KMeansPlan {
  fused,      // one cooperative launch (grid syncs between the phases): 1 launch
  per_phase,  // a launch per phase: 5 + 3 * max_iters launches (k > 1), 5 (k = 1)
};
struct KMeansOptions {
  int k = 1;
  int max_iters = 10;
  std::uint64_t seed = 0;                 // Philox key of the seeding
  DeviceScalar<std::uint64_t> rng_stream;  // and its stream: may be read on the device (a graph)
  KMeansPlan plan = KMeansPlan::fused;
  int fused_blocks = 0;  // fused grid size; 0: one block per SM, at most what the phases use
};
struct KMeansOutputs {             // device memory
  int* assignment = nullptr;       // b
  float* centroids = nullptr;      // k x f
  Clustering clustering;           // order, offsets, sizes; its k and b must be the run's
  KMeansResult* result = nullptr;  // 1
};
void kmeans(TensorView points, const KMeansOptions& options, const KMeansOutputs& out,
            void* scratch, stream_t stream = nullptr);

// The most blocks KMeansOptions::fused_blocks may ask for with k clusters: the fused kernel's
// cooperative limit on this device (its occupancy at k's shared memory times the SMs on a GPU,
// e.g. 3 x 132 on an H100; the emulator's cap, cuemu::kMaxCooperativeBlocks). More is refused.
unsigned kmeans_fused_blocks_limit(int k);

// Row-wise L2 normalisation in place: x_i /= max(||x_i||, 1e-12) (a zero row stays zero). The
// norm is sqrtf of a float sum of squares (a fixed tree on the GPU, a loop on the emulator: the
// two agree to rounding).
void l2_normalize_rows(float* x, int rows, int cols, stream_t stream = nullptr);
// The same into y (rows x cols, y may be x): y_i = x_i / max(||x_i||, 1e-12), the same bits as
// normalising a copy in place, without the copy's launch.
void l2_normalize_rows(const float* x, float* y, int rows, int cols, stream_t stream = nullptr);

}  // namespace gq::kernels
