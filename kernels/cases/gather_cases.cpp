// gather_rows (kernels/gather.h), sized [batch, dim]: a batch of feature rows and their labels from
// a dataset of batch + 13 rows (so some are never picked, others picked twice). It only moves
// values: exact against the index reference and between the devices.
#include "kernels/cases/case_files.h"
#include "kernels/gather.h"
#include "runtime/rng.h"

namespace gq::cases {
namespace {

struct Dataset {
  int batch, dim, rows;
  std::vector<float> features;
  std::vector<std::int32_t> labels, indices;
  Dataset(const Dims& size, std::uint64_t seed)
      : batch(static_cast<int>(size[0])),
        dim(static_cast<int>(size[1])),
        rows(batch + 13),
        features(seeded(std::size_t(rows) * dim, seed, 1)),
        labels(rows),
        indices(batch) {
    HostRng rng(seed, 2);
    for (std::int32_t& l : labels) l = static_cast<std::int32_t>(rng.below(46));
    for (std::int32_t& i : indices) i = static_cast<std::int32_t>(rng.below(rows));
  }
};

struct GatherBuffers {
  DeviceBuffer<float> features, out;
  DeviceBuffer<std::int32_t> labels, indices, labels_out;
  explicit GatherBuffers(const Dataset& d)
      : features(std::span<const float>(d.features)),
        out(std::size_t(d.batch) * d.dim),
        labels(std::span<const std::int32_t>(d.labels)),
        indices(std::span<const std::int32_t>(d.indices)),
        labels_out(d.batch) {
    out.fill_bytes(0xff);
    labels_out.fill_bytes(0xff);
  }
};

}  // namespace

std::vector<KernelCase> gather_cases() {
  KernelCase c;
  c.name = "gather/rows";
  c.prepare = [](const Dims& size, std::uint64_t seed) {
    const Dataset d(size, seed);
    auto b = std::make_shared<GatherBuffers>(d);
    return PreparedCase{[b, batch = d.batch, dim = d.dim] {
                          kernels::gather_rows(b->features.data(), b->labels.data(),
                                               b->indices.data(), batch, dim, b->out.data(),
                                               b->labels_out.data());
                        },
                        [b] {
                          std::vector<float> r = b->out.to_host();
                          for (std::int32_t l : b->labels_out.to_host()) r.push_back(float(l));
                          return r;
                        }};
  };
  c.reference = [](const Dims& size, std::uint64_t seed) {
    const Dataset d(size, seed);
    std::vector<double> want;
    for (std::int32_t i : d.indices)
      want.insert(want.end(), d.features.begin() + std::size_t(i) * d.dim,
                  d.features.begin() + std::size_t(i + 1) * d.dim);
    for (std::int32_t i : d.indices) want.push_back(d.labels[i]);
    return Reference(std::move(want));
  };
  c.bytes_per_element = 8;  // a float read and written (the labels: 12 bytes per row)
  c.sizes = {{1, 1}, {31, 7}, {64, 2000}, {257, 33}, {3, 4097}, {128, 1}};
  c.parity_sizes = {{37, 2000}};
  c.bench_size = {128, 8192};
  return {c};
}

}  // namespace gq::cases
