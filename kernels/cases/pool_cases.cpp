// Pooling (kernels/pool.h) on odd, non-square shapes, sized [n, c, h, w, window, stride, pad]:
// max-pool forward (values and argmax, inputs continuous: no ties), its backward (a scatter of dy
// through the forward's argmax), average-pool forward and backward (padding excluded from the
// count), and global average pooling sized [n, c, hw]; max pooling also over bf16 storage.
// Comparisons and sums in a fixed order: the GPU gives the emulator's bits. Ties, NaNs and finite
// differences stay in tests/kernels/test_pool.
#include <type_traits>
#include <vector>

#include "kernels/cases/case_files.h"
#include "kernels/pool.h"

namespace gq::cases {
namespace {

kernels::PoolShape pool_shape(const Dims& d) {
  const auto i = [&](int k) { return static_cast<int>(d[k]); };
  return {i(0), i(1), i(2), i(3), i(4), i(5), i(6)};
}
std::size_t in_size(const kernels::PoolShape& s) { return std::size_t(s.n) * s.c * s.h * s.w; }
std::size_t out_size(const kernels::PoolShape& s) {
  return std::size_t(s.n) * s.c * s.out_h() * s.out_w();
}

// Calls visit(plane, output index, in-plane indices of the window's in-bounds inputs, row-major).
template <class Visit>
void for_each_window(const kernels::PoolShape& s, Visit visit) {
  for (int p = 0; p < s.n * s.c; ++p)
    for (int oh = 0; oh < s.out_h(); ++oh)
      for (int ow = 0; ow < s.out_w(); ++ow) {
        std::vector<int> members;
        for (int ih = oh * s.stride - s.pad; ih < oh * s.stride - s.pad + s.window; ++ih)
          for (int iw = ow * s.stride - s.pad; iw < ow * s.stride - s.pad + s.window; ++iw)
            if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w) members.push_back(ih * s.w + iw);
        visit(std::size_t(p), (std::size_t(p) * s.out_h() + oh) * s.out_w() + ow, members);
      }
}

// The index of each window's maximum within its plane (the first of equal ones).
std::vector<int> argmax_ref(const kernels::PoolShape& s, const std::vector<float>& x) {
  std::vector<int> best(out_size(s));
  for_each_window(s, [&](std::size_t p, std::size_t o, const std::vector<int>& members) {
    const float* plane = x.data() + p * s.h * s.w;
    best[o] = members[0];
    for (int m : members)
      if (plane[m] > plane[best[o]]) best[o] = m;
  });
  return best;
}

// The inputs as T stores them: bf16 rounds them (which makes ties common: the first max wins).
template <class T>
std::vector<float> inputs(std::size_t n, std::uint64_t seed, std::uint64_t stream) {
  return as_stored<T>(seeded(n, seed, stream));
}

template <class T>
struct PoolBuffers {
  DeviceBuffer<T> x, dy, y, dx;
  DeviceBuffer<std::int32_t> argmax;
  PoolBuffers(const kernels::PoolShape& s, std::uint64_t seed)
      : x(device_values<T>(inputs<T>(in_size(s), seed, 1))),
        dy(device_values<T>(inputs<T>(out_size(s), seed, 2))),
        y(out_size(s)),
        dx(in_size(s)),
        argmax(out_size(s)) {
    y.fill_bytes(0xff);
    dx.fill_bytes(0xff);
    argmax.fill_bytes(0xff);
  }
};

enum class Op { max_forward, max_backward, avg_forward, avg_backward };

template <class T>
PreparedCase prepare(Op op, const Dims& size, std::uint64_t seed) {
  const kernels::PoolShape s = pool_shape(size);
  auto b = std::make_shared<PoolBuffers<T>>(s, seed);
  PoolBuffers<T>& p = *b;
  if (op == Op::max_backward)  // the argmax it scatters through, once
    kernels::maxpool2d_forward(s, p.x.data(), p.y.data(), p.argmax.data());
  const auto launch = [b, s, op] {
    PoolBuffers<T>& p = *b;
    if (op == Op::max_forward)
      kernels::maxpool2d_forward(s, p.x.data(), p.y.data(), p.argmax.data());
    if (op == Op::max_backward)
      kernels::maxpool2d_backward(s, p.dy.data(), p.argmax.data(), p.dx.data());
    if constexpr (std::is_same_v<T, float>) {  // average pooling stores float only
      if (op == Op::avg_forward) kernels::avgpool2d_forward(s, p.x.data(), p.y.data());
      if (op == Op::avg_backward) kernels::avgpool2d_backward(s, p.dy.data(), p.dx.data());
    }
  };
  const auto outputs = [b, op] {
    if (op == Op::max_backward || op == Op::avg_backward) return host_floats(b->dx);
    std::vector<float> r = host_floats(b->y);
    if (op == Op::max_forward)
      for (std::int32_t i : b->argmax.to_host()) r.push_back(static_cast<float>(i));
    return r;
  };
  return {launch, outputs};
}

template <class T>
Reference reference(Op op, const Dims& size, std::uint64_t seed) {
  const kernels::PoolShape s = pool_shape(size);
  const std::vector<float> x = inputs<T>(in_size(s), seed, 1), dy = inputs<T>(out_size(s), seed, 2);
  const std::vector<int> best = argmax_ref(s, x);
  std::vector<double> y(out_size(s)), dx(in_size(s), 0.0), arg;
  for_each_window(s, [&](std::size_t p, std::size_t o, const std::vector<int>& members) {
    const std::size_t plane = p * s.h * s.w;
    double sum = 0;
    for (int m : members) {
      sum += x[plane + m];
      dx[plane + m] += op == Op::avg_backward ? dy[o] / double(members.size()) : 0.0;
    }
    y[o] = op == Op::max_forward ? x[plane + best[o]] : sum / double(members.size());
    if (op == Op::max_backward) dx[plane + best[o]] += dy[o];
    arg.push_back(best[o]);
  });
  if (op == Op::max_backward || op == Op::avg_backward) return Reference(std::move(dx));
  if (op == Op::max_forward) y.insert(y.end(), arg.begin(), arg.end());
  return Reference(std::move(y));
}

template <class T = float>
KernelCase pool_case(const char* name, Op op, Tolerance tol, double bytes) {
  KernelCase c;
  c.name = std::string("pool/") + name;
  c.prepare = [op](const Dims& size, std::uint64_t seed) { return prepare<T>(op, size, seed); };
  c.reference = [op](const Dims& size, std::uint64_t seed) { return reference<T>(op, size, seed); };
  c.vs_reference = tol;
  c.bytes_per_element = bytes;  // per input element
  c.bytes_moved = [bytes](const Dims& s) { return bytes * double(s[0] * s[1] * s[2] * s[3]); };
  c.sizes = {{3, 5, 9, 7, 2, 2, 0},   {3, 5, 9, 7, 3, 2, 1}, {3, 5, 9, 7, 3, 1, 1},
             {2, 3, 8, 8, 2, 2, 0},   {3, 2, 4, 150, 2, 2, 0}, {1, 2, 13, 6, 3, 2, 0},
             {2, 3, 5, 11, 3, 3, 1},  {2, 2, 6, 5, 4, 1, 2}, {4, 1, 1, 1, 1, 1, 0},
             {2, 3, 7, 7, 7, 7, 0}};
  c.parity_sizes = {{3, 5, 9, 7, 3, 2, 1}, {4, 16, 32, 32, 2, 2, 0}, {4, 16, 31, 31, 2, 2, 0}};
  c.bench_size = {128, 32, 32, 32, 2, 2, 0};  // paper-cnn's first block: its largest pooling
  return c;
}

// Global average pooling, sized [n, c, hw]: one thread sums a plane in index order and divides.
KernelCase global_case(bool backward) {
  KernelCase c;
  c.name = backward ? "pool/global avg backward" : "pool/global avg forward";
  c.prepare = [backward](const Dims& size, std::uint64_t seed) {
    const int n = static_cast<int>(size[0]), ch = static_cast<int>(size[1]),
              hw = static_cast<int>(size[2]);
    const std::size_t planes = std::size_t(n) * ch;
    auto b = buffers({seeded(planes * hw, seed, 1), seeded(planes, seed, 2)}, 1,
                     backward ? planes * hw : planes);
    return PreparedCase{[b, n, ch, hw, backward] {
                          if (backward)
                            kernels::global_avgpool_backward(n, ch, hw, b->in[1].data(),
                                                             b->out[0].data());
                          else
                            kernels::global_avgpool_forward(n, ch, hw, b->in[0].data(),
                                                            b->out[0].data());
                        },
                        [b] { return b->outputs(); }};
  };
  c.reference = [backward](const Dims& size, std::uint64_t seed) {
    const std::size_t planes = size[0] * size[1], hw = size[2];
    const std::vector<float> x = seeded(planes * hw, seed, 1), dy = seeded(planes, seed, 2);
    std::vector<double> out(backward ? planes * hw : planes, 0.0);
    for (std::size_t i = 0; i < planes * hw; ++i) {
      if (backward) out[i] = double(dy[i / hw]) / double(hw);
      else out[i / hw] += double(x[i]) / double(hw);
    }
    return Reference(std::move(out));
  };
  c.vs_reference = backward ? Tolerance{1e-9, 1e-6} : Tolerance{1e-6, 1e-6};
  c.bytes_per_element = 4;
  c.sizes = {{3, 5, 63}, {2, 3, 1}, {1, 2, 4097}, {4, 7, 49}, {5, 67, 31}};
  c.parity_sizes = {{8, 64, 49}};
  c.bench_size = {256, 512, 64};
  return c;
}

}  // namespace

std::vector<KernelCase> pool_cases() {
  // bf16: a maximum is exact; a backward sum of overlapping windows' dy is rounded once (2^-8).
  return {pool_case("max forward", Op::max_forward, {0, 0}, 6),
          pool_case("max backward", Op::max_backward, {1e-6, 1e-6}, 6),
          pool_case<bf16>("max forward bf16", Op::max_forward, {0, 0}, 4),
          pool_case<bf16>("max backward bf16", Op::max_backward, {1e-6, 1e-6 + 1.0 / 256}, 4),
          pool_case("avg forward", Op::avg_forward, {1e-7, 1e-6}, 5),
          pool_case("avg backward", Op::avg_backward, {1e-7, 1e-6}, 5),
          global_case(false),
          global_case(true)};
}

}  // namespace gq::cases
