// k-means (kernels/kmeans.h) sized [b, f, k] on points in [-1, 1): ten Lloyd iterations after
// k-means++ seeding, the default (fused) plan, against the host model of kmeans_reference.h, which
// makes the same float operations in the same order: exact (assignment, sizes, order, offsets,
// the centroids of non-empty clusters, iterations, converged, non-empty clusters), between the
// devices too. Sizes: a single point, k = 1, k > b, chunks of the seeding's 256-point tree that
// do not divide b. And the row-wise L2 normalisation sized [rows, cols], in place and into another
// buffer, a zero row among them, against double (the norm is a float sum: rounding-level between
// the devices). The launch plans' equality, blobs, convergence, re-seeding, the largest problem,
// launch counts and argument checks stay in tests/kernels/test_kmeans.
#include "kernels/cases/kmeans_reference.h"

#include <algorithm>
#include <cmath>

#include "kernels/cases/case_files.h"
#include "kernels/kmeans.h"
#include "runtime/rng.h"

namespace gq::cases {
namespace {

constexpr int kChunk = 256;

float dist2(const float* x, const float* c, int f) {
  float acc = 0.0f;
  for (int j = 0; j < f; ++j) {
    const float d = x[j] - c[j];
    acc = std::fmaf(d, d, acc);
  }
  return acc;
}

// The point that seeds centre c (c >= 1) from the distances D to the chosen centres.
int seed_point(const std::vector<float>& D, const std::vector<int>& chosen, float u) {
  const int b = static_cast<int>(D.size()), chunks = (b + kChunk - 1) / kChunk;
  std::vector<float> sums(chunks);
  for (int ch = 0; ch < chunks; ++ch) {  // the fixed pairwise tree of each chunk
    float v[kChunk];
    for (int t = 0; t < kChunk; ++t) v[t] = ch * kChunk + t < b ? D[ch * kChunk + t] : 0.0f;
    for (int s = kChunk / 2; s > 0; s >>= 1)
      for (int t = 0; t < s; ++t) v[t] += v[t + s];
    sums[ch] = v[0];
  }
  float total = 0.0f;
  for (float s : sums) total += s;
  int p = -1;
  if (total > 0.0f) {
    const float target = u * total;
    float running = 0.0f;
    for (int ch = 0; ch < chunks && p < 0; ++ch) {
      const float next = running + sums[ch];
      if (next > target) {
        float acc = running;
        int last_positive = -1;
        for (int i = ch * kChunk; i < std::min(b, (ch + 1) * kChunk) && p < 0; ++i) {
          if (D[i] > 0.0f) last_positive = i;
          acc += D[i];
          if (acc > target) p = i;
        }
        if (p < 0) p = last_positive;
      }
      running = next;
    }
    for (int i = b - 1; i >= 0 && p < 0; --i)
      if (D[i] > 0.0f) p = i;
  }
  for (int i = 0; i < b && p < 0; ++i)
    if (!chosen[i]) p = i;
  return p;
}

struct Model {
  const std::vector<float>& x;
  int b, f, k;
  HostClustering r;
  std::vector<float> dist;  // each point's distance to its centroid in the latest assignment

  const float* row(int i) const { return x.data() + std::size_t(i) * f; }
  float* centre(int c) { return r.centroids.data() + std::size_t(c) * f; }
  void set_centre(int c, int p) { std::copy(row(p), row(p) + f, centre(c)); }

  void seed(std::uint64_t seed, std::uint64_t stream) {
    std::vector<int> chosen(b, 0);
    std::vector<float> D(b, 0.0f);
    const float u0 = uniform01(philox_random4(seed, stream, 0).v[0]);
    const int first = std::min(static_cast<int>(u0 * static_cast<float>(b)), b - 1);
    set_centre(0, first);
    chosen[first] = 1;
    for (int c = 1; c < std::min(k, b); ++c) {
      for (int i = 0; i < b; ++i) {
        const float d = dist2(row(i), centre(c - 1), f);
        D[i] = c == 1 ? d : std::fmin(D[i], d);
      }
      const int p = seed_point(D, chosen, uniform01(philox_random4(seed, stream, c).v[0]));
      chosen[p] = 1;
      set_centre(c, p);
    }
    for (int c = b; c < k; ++c) set_centre(c, 0);
  }
  bool assign() {
    bool changed = false;
    for (int i = 0; i < b; ++i) {
      int best = 0;
      float best_d = dist2(row(i), centre(0), f);
      for (int c = 1; c < k; ++c) {
        const float d = dist2(row(i), centre(c), f);
        if (d < best_d) best_d = d, best = c;
      }
      changed |= r.assignment[i] != best;
      r.assignment[i] = best;
      dist[i] = best_d;
    }
    return changed;
  }
  void sort() {  // stable counting sort by cluster
    r.sizes.assign(k, 0);
    for (int a : r.assignment) ++r.sizes[a];
    r.offsets.assign(k + 1, 0);
    for (int c = 0; c < k; ++c) r.offsets[c + 1] = r.offsets[c] + r.sizes[c];
    r.order.assign(b, -1);
    std::vector<int> next(r.offsets.begin(), r.offsets.end() - 1);
    for (int i = 0; i < b; ++i) r.order[next[r.assignment[i]]++] = i;
  }
  void update() {
    for (int c = 0; c < k; ++c)
      for (int j = 0; j < f && r.sizes[c] > 0; ++j) {
        float acc = 0.0f;
        for (int m = 0; m < r.sizes[c]; ++m) acc += row(r.order[r.offsets[c] + m])[j];
        centre(c)[j] = acc / static_cast<float>(r.sizes[c]);
      }
  }
  void reseed() {  // empty clusters take the farthest points, each point once
    for (int c = 0; c < k; ++c) {
      if (r.sizes[c] != 0) continue;
      float best = -INFINITY;
      int p = -1;
      for (int i = 0; i < b; ++i)
        if (dist[i] > best) best = dist[i], p = i;
      if (best < 0.0f) continue;
      set_centre(c, p);
      dist[p] = -1.0f;
      ++r.reseeds;
    }
  }
};

}  // namespace

HostClustering kmeans_reference(const std::vector<float>& x, int b, int f, int k, int max_iters,
                                std::uint64_t seed, std::uint64_t stream) {
  Model m{x, b, f, k, {}, std::vector<float>(b)};
  m.r.centroids.assign(std::size_t(k) * f, 0.0f);
  m.r.assignment.assign(b, 0);
  m.seed(seed, stream);
  m.assign();
  m.r.converged = k == 1;
  for (int it = 1; k > 1 && it <= max_iters && !m.r.converged; ++it) {
    m.sort();
    m.reseed();
    m.update();
    const bool changed = m.assign();
    m.r.iterations = it;
    if (!changed) m.r.converged = 1;
  }
  m.sort();
  m.update();
  for (int s : m.r.sizes) m.r.k_effective += s > 0;
  return m.r;
}

namespace {

constexpr int kIters = 10;
constexpr std::uint64_t kSeed = 5, kStream = 9;

// Every output as floats; an empty cluster's centroid row means nothing: zeros.
std::vector<float> flatten(const HostClustering& r, int f) {
  std::vector<float> out;
  for (const std::vector<int>* v : {&r.assignment, &r.sizes, &r.order, &r.offsets})
    for (int i : *v) out.push_back(float(i));
  for (std::size_t c = 0; c < r.sizes.size(); ++c)
    for (int j = 0; j < f; ++j) out.push_back(r.sizes[c] > 0 ? r.centroids[c * f + j] : 0.0f);
  for (int i : {r.iterations, r.converged, r.k_effective}) out.push_back(float(i));
  return out;
}

struct KMeansBuffers {
  int b, f, k;
  DeviceBuffer<float> points, centroids;
  DeviceBuffer<int> assignment, sizes, order, offsets;
  DeviceBuffer<kernels::KMeansResult> result{1};
  DeviceBuffer<char> scratch;
  KMeansBuffers(const Dims& size, std::uint64_t seed)
      : b(int(size[0])),
        f(int(size[1])),
        k(int(size[2])),
        points(std::span<const float>(seeded(size[0] * size[1], seed, 1))),
        centroids(std::size_t(k) * f),
        assignment(b),
        sizes(k),
        order(b),
        offsets(k + 1),
        scratch(kernels::kmeans_scratch_bytes(b, f, k)) {
    for (auto* v : {&assignment, &sizes, &order, &offsets}) v->fill_bytes(0xff);
    centroids.fill_bytes(0xff);
    result.fill_bytes(0xff);
    scratch.fill_bytes(0xff);
  }
  void launch() {
    kernels::kmeans({points.data(), Shape{b, f}}, {k, kIters, kSeed, kStream},
                    {assignment.data(),
                     centroids.data(),
                     {order.data(), offsets.data(), sizes.data(), k, b},
                     result.data()},
                    scratch.data());
  }
  std::vector<float> outputs() const {
    HostClustering r;
    r.assignment = assignment.to_host(), r.sizes = sizes.to_host(), r.order = order.to_host();
    r.offsets = offsets.to_host(), r.centroids = centroids.to_host();
    const kernels::KMeansResult res = result.to_host()[0];
    r.iterations = res.iterations, r.converged = res.converged, r.k_effective = res.k_effective;
    return flatten(r, f);
  }
};

KernelCase kmeans_case() {
  KernelCase c;
  c.name = "kmeans/cluster";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    auto b = std::make_shared<KMeansBuffers>(size, seed);
    return PreparedCase{[b] { b->launch(); }, [b] { return b->outputs(); }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    const int b = int(size[0]), f = int(size[1]), k = int(size[2]);
    const std::vector<float> x = seeded(size[0] * size[1], seed, 1);
    const std::vector<float> out = flatten(kmeans_reference(x, b, f, k, kIters, kSeed, kStream), f);
    return Reference(std::vector<double>(out.begin(), out.end()));
  };
  // Per (point, feature, centroid): a float of the points read by each of ~12 assignment and
  // seeding passes (from cache after the first).
  c.bytes_per_element = 48;
  c.sizes = {{1, 3, 1}, {31, 33, 7}, {257, 3, 16}, {1000, 130, 2}, {5, 2, 9}, {513, 1, 64}};
  c.parity_sizes = {{1000, 33, 16}, {2048, 130, 32}};
  c.bench_size = {4096, 64, 16};  // a Grad Queue batch's features
  return c;
}

// y_i = x_i / max(||x_i||, 1e-12), row rows / 3 zero; in place, or into a poisoned buffer.
KernelCase normalize_case(bool in_place) {
  KernelCase c;
  c.name = in_place ? "kmeans/l2_normalize_rows in place" : "kmeans/l2_normalize_rows into y";
  const auto input = [](const Dims& size, std::uint64_t seed) {
    std::vector<float> x = seeded(numel(size), seed, 1);
    std::fill_n(x.begin() + size[0] / 3 * size[1], size[1], 0.0f);
    return x;
  };
  c.prepare = [input, in_place](const Dims& size, std::uint64_t seed) {
    const int rows = int(size[0]), cols = int(size[1]);
    auto b = buffers({input(size, seed)}, 1, numel(size));
    if (in_place) copy_on_device(b->out[0].data(), b->in[0].data(), numel(size) * sizeof(float));
    return PreparedCase{[b, rows, cols, in_place] {
                          if (in_place)
                            kernels::l2_normalize_rows(b->out[0].data(), rows, cols);
                          else
                            kernels::l2_normalize_rows(b->in[0].data(), b->out[0].data(), rows,
                                                       cols);
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [input](const Dims& size, std::uint64_t seed) {
    const std::vector<float> x = input(size, seed);
    std::vector<double> y(x.size());
    for (std::size_t r = 0; r < size[0]; ++r) {
      double ss = 0;
      for (std::size_t j = 0; j < size[1]; ++j)
        ss += double(x[r * size[1] + j]) * x[r * size[1] + j];
      for (std::size_t j = 0; j < size[1]; ++j)
        y[r * size[1] + j] = x[r * size[1] + j] / std::max(std::sqrt(ss), 1e-12);
    }
    return Reference(std::move(y));
  };
  c.vs_reference = {0, 2e-6};  // the float sum of squares of up to 4097 values, its sqrtf
  c.gpu_vs_emulator = {1e-7, 1e-6};
  c.bytes_per_element = 12;  // read twice, written once
  c.sizes = {{1, 1}, {31, 3}, {257, 130}, {1000, 1024}, {3, 4097}, {4097, 1}};
  c.parity_sizes = {{257, 1000}};
  c.bench_size = {4096, 256};
  return c;
}

}  // namespace

std::vector<KernelCase> kmeans_cases() {
  return {kmeans_case(), normalize_case(true), normalize_case(false)};
}

}  // namespace gq::cases
