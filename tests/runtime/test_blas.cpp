// gq::blas::gemm / gemm_strided_batched against a naive double-precision reference: all four
// transpose combinations, awkward sizes, padded leading dimensions (padding poisoned and checked
// untouched), alpha/beta combinations, and NaN-poisoned outputs when beta == 0.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "runtime/blas.h"
#include "runtime/device.h"
#include "runtime/error.h"
#include "runtime/memory.h"

namespace gq {
namespace {

using blas::Op;
using blas::detail::CpuGemm;

// The CPU build has two GEMM libraries; every case runs on each. The GPU build has one.
std::vector<CpuGemm> backends() {
  if (built_for_gpu()) return {CpuGemm::OneDnn};
  return {CpuGemm::OneDnn, CpuGemm::OpenBlas};
}

// Selects a CPU GEMM backend for one scope.
class UseBackend {
 public:
  explicit UseBackend(CpuGemm b) : saved_(blas::detail::cpu_gemm()) {
    blas::detail::set_cpu_gemm(b);
  }
  ~UseBackend() { blas::detail::set_cpu_gemm(saved_); }
  UseBackend(const UseBackend&) = delete;
  UseBackend& operator=(const UseBackend&) = delete;

 private:
  CpuGemm saved_;
};

const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<float> random_vector(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// A stored rows x cols row-major matrix with leading dimension ld; padding columns are NaN.
std::vector<float> padded_matrix(int rows, int cols, int ld, std::uint32_t seed) {
  std::vector<float> v = random_vector(static_cast<std::size_t>(rows) * ld, seed);
  for (int i = 0; i < rows; ++i)
    for (int j = cols; j < ld; ++j) v[static_cast<std::size_t>(i) * ld + j] = kNaN;
  return v;
}

DeviceBuffer<float> to_device(const std::vector<float>& host) {
  return DeviceBuffer<float>(std::span<const float>(host));
}

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

struct GemmCase {
  Op op_a, op_b;
  int m, n, k;
  int pad;  // extra elements per row in every matrix (lda = cols + pad)
  float alpha, beta;
  CpuGemm backend = CpuGemm::OneDnn;
};

// A test-name-safe spelling of a scale factor: -0.75 -> "m075".
std::string scale_name(float v) {
  const int centi = static_cast<int>(std::lround(v * 100));
  std::string out = centi < 0 ? "m" : "p";
  out += std::to_string(std::abs(centi));
  return out;
}

std::string name_of(const GemmCase& c) {
  return std::string(built_for_gpu()                ? ""
                     : c.backend == CpuGemm::OneDnn ? "onednn_"
                                                    : "openblas_") +
         (c.op_a == Op::N ? "N" : "T") + (c.op_b == Op::N ? "N" : "T") + "_" + std::to_string(c.m) +
         "x" + std::to_string(c.n) + "x" + std::to_string(c.k) + "_pad" + std::to_string(c.pad) +
         "_a" + scale_name(c.alpha) + "_b" + scale_name(c.beta);
}

// Checks one C matrix (m x n, leading dim ldc, at offset) against the reference; the padding
// columns must still hold their initial bits.
void check_c(const GemmCase& c, const std::vector<float>& a, int lda, const std::vector<float>& b,
             int ldb, const std::vector<float>& c0, const std::vector<float>& got, int ldc,
             std::size_t off_a, std::size_t off_b, std::size_t off_c) {
  int bad = 0;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.n; ++j) {
      double sum = 0, mag = 0;
      for (int p = 0; p < c.k; ++p) {
        const double av = c.op_a == Op::N ? a[off_a + static_cast<std::size_t>(i) * lda + p]
                                          : a[off_a + static_cast<std::size_t>(p) * lda + i];
        const double bv = c.op_b == Op::N ? b[off_b + static_cast<std::size_t>(p) * ldb + j]
                                          : b[off_b + static_cast<std::size_t>(j) * ldb + p];
        sum += av * bv;
        mag += std::fabs(av * bv);
      }
      const std::size_t idx = off_c + static_cast<std::size_t>(i) * ldc + j;
      double want = c.alpha * sum;
      mag = std::fabs(c.alpha) * mag;
      if (c.beta != 0.0f) {
        want += c.beta * static_cast<double>(c0[idx]);
        mag += std::fabs(c.beta * c0[idx]);
      }
      // fp32 accumulation: error grows at most ~k ulps of the magnitude sum.
      const double tol = 1e-6 + 2.0 * c.k * 6e-8 * mag;
      if (!(std::fabs(got[idx] - want) <= tol) && ++bad <= 5) {
        ADD_FAILURE() << name_of(c) << " C[" << i << "," << j << "] = " << got[idx] << ", want "
                      << want << " (tol " << tol << ")";
      }
    }
    for (int j = c.n; j < ldc; ++j) {
      const std::size_t idx = off_c + static_cast<std::size_t>(i) * ldc + j;
      if (!same_bits(got[idx], c0[idx]) && ++bad <= 5)
        ADD_FAILURE() << name_of(c) << " padding C[" << i << "," << j << "] was written";
    }
  }
  EXPECT_EQ(bad, 0) << name_of(c);
}

class GemmTest : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmTest, MatchesReference) {
  const GemmCase c = GetParam();
  const UseBackend use(c.backend);
  const int a_rows = c.op_a == Op::N ? c.m : c.k, a_cols = c.op_a == Op::N ? c.k : c.m;
  const int b_rows = c.op_b == Op::N ? c.k : c.n, b_cols = c.op_b == Op::N ? c.n : c.k;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  const std::vector<float> a = padded_matrix(a_rows, a_cols, lda, 1);
  const std::vector<float> b = padded_matrix(b_rows, b_cols, ldb, 2);
  std::vector<float> c0 = random_vector(static_cast<std::size_t>(c.m) * ldc, 3);
  if (c.beta == 0.0f) {
    c0.assign(c0.size(), kNaN);  // must be overwritten, NaN * 0 must not leak
  } else {
    for (int i = 0; i < c.m; ++i)
      for (int j = c.n; j < ldc; ++j) c0[static_cast<std::size_t>(i) * ldc + j] = kNaN;
  }
  DeviceBuffer<float> da = to_device(a), db = to_device(b), dc = to_device(c0);
  blas::gemm(c.op_a, c.op_b, c.m, c.n, c.k, c.alpha, da.data(), lda, db.data(), ldb, c.beta,
             dc.data(), ldc);
  check_c(c, a, lda, b, ldb, c0, dc.to_host(), ldc, 0, 0, 0);
}

std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> out;
  const int sizes[][3] = {{1, 1, 1}, {17, 33, 15}, {100, 37, 129}, {257, 31, 65}};
  const float ab[][2] = {{1.0f, 0.0f}, {-0.75f, 0.0f}, {1.0f, 1.0f}, {0.5f, -1.25f}};
  for (Op op_a : {Op::N, Op::T})
    for (Op op_b : {Op::N, Op::T})
      for (const auto& s : sizes)
        for (int pad : {0, 3})
          for (const auto& x : ab)
            for (CpuGemm be : backends())
              out.push_back({op_a, op_b, s[0], s[1], s[2], pad, x[0], x[1], be});
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllCombos, GemmTest, ::testing::ValuesIn(gemm_cases()),
                         [](const auto& info) { return name_of(info.param); });

// Strided batched: batch 1 and 3, gaps between matrices (poisoned), alpha/beta variants, and a
// broadcast operand (stride 0).
struct BatchCase {
  GemmCase g;
  int batch;
  bool broadcast_b;
};

class GemmBatchedTest : public ::testing::TestWithParam<BatchCase> {};

TEST_P(GemmBatchedTest, MatchesReference) {
  const BatchCase bc = GetParam();
  const GemmCase& c = bc.g;
  const UseBackend use(c.backend);
  const int a_rows = c.op_a == Op::N ? c.m : c.k, a_cols = c.op_a == Op::N ? c.k : c.m;
  const int b_rows = c.op_b == Op::N ? c.k : c.n, b_cols = c.op_b == Op::N ? c.n : c.k;
  const int lda = a_cols + c.pad, ldb = b_cols + c.pad, ldc = c.n + c.pad;
  const long long stride_a = static_cast<long long>(a_rows) * lda + 7;
  const long long stride_b = bc.broadcast_b ? 0 : static_cast<long long>(b_rows) * ldb + 5;
  const long long stride_c = static_cast<long long>(c.m) * ldc + 11;
  const std::size_t na = stride_a * bc.batch,
                    nb = bc.broadcast_b ? stride_b + b_rows * ldb : stride_b * bc.batch,
                    nc = stride_c * bc.batch;
  std::vector<float> a = random_vector(na, 4), b = random_vector(nb, 5);
  std::vector<float> c0 = random_vector(nc, 6);
  if (c.beta == 0.0f) c0.assign(nc, kNaN);
  // Poison everything outside the matrices (padding and gaps) in C.
  for (std::size_t i = 0; i < nc; ++i) {
    const std::size_t in = i % stride_c;
    if (in >= static_cast<std::size_t>(c.m) * ldc || static_cast<int>(in % ldc) >= c.n)
      c0[i] = kNaN;
  }
  DeviceBuffer<float> da = to_device(a), db = to_device(b), dc = to_device(c0);
  blas::gemm_strided_batched(c.op_a, c.op_b, c.m, c.n, c.k, c.alpha, da.data(), lda, stride_a,
                             db.data(), ldb, stride_b, c.beta, dc.data(), ldc, stride_c, bc.batch);
  const std::vector<float> got = dc.to_host();
  for (int i = 0; i < bc.batch; ++i)
    check_c(c, a, lda, b, ldb, c0, got, ldc, i * stride_a, i * stride_b, i * stride_c);
  // The gaps between the C matrices are untouched.
  for (std::size_t i = 0; i < nc; ++i) {
    if (i % stride_c >= static_cast<std::size_t>(c.m) * ldc) {
      ASSERT_TRUE(same_bits(got[i], c0[i])) << "gap element " << i << " was written";
    }
  }
}

std::vector<BatchCase> batch_cases() {
  std::vector<BatchCase> out;
  for (Op op_a : {Op::N, Op::T})
    for (Op op_b : {Op::N, Op::T})
      for (int batch : {1, 3})
        for (CpuGemm be : backends()) {
          out.push_back({{op_a, op_b, 17, 33, 15, 2, 1.0f, 0.0f, be}, batch, false});
          out.push_back({{op_a, op_b, 9, 5, 31, 0, -0.5f, 0.75f, be}, batch, false});
        }
  for (CpuGemm be : backends()) {
    out.push_back({{Op::N, Op::T, 13, 7, 21, 1, 1.0f, 0.0f, be}, 3, true});
    out.push_back({{Op::T, Op::N, 13, 7, 21, 0, 2.0f, 1.0f, be}, 3, true});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Batched, GemmBatchedTest, ::testing::ValuesIn(batch_cases()),
                         [](const auto& info) {
                           return name_of(info.param.g) + "_batch" +
                                  std::to_string(info.param.batch) +
                                  (info.param.broadcast_b ? "_bcastB" : "");
                         });

class GemmBackendTest : public ::testing::TestWithParam<CpuGemm> {};

TEST_P(GemmBackendTest, Deterministic) {
  const UseBackend use(GetParam());
  const int m = 200, n = 150, k = 333;
  const std::vector<float> a = random_vector(m * k, 7), b = random_vector(k * n, 8);
  DeviceBuffer<float> da = to_device(a), db = to_device(b), c1(m * n), c2(m * n);
  blas::gemm(Op::N, Op::T, m, n, k, 1.0f, da.data(), k, db.data(), k, 0.0f, c1.data(), n);
  blas::gemm(Op::N, Op::T, m, n, k, 1.0f, da.data(), k, db.data(), k, 0.0f, c2.data(), n);
  const std::vector<float> h1 = c1.to_host(), h2 = c2.to_host();
  EXPECT_EQ(std::memcmp(h1.data(), h2.data(), h1.size() * sizeof(float)), 0);
}

// A large k exercises k-partitioned (multi-threaded reduction) paths, a large beta == 0 output
// the NaN-poison guarantee on the fast kernels.
TEST_P(GemmBackendTest, LargeDeterministicAndPoisonSafe) {
  const UseBackend use(GetParam());
  const int m = 64, n = 48, k = 8192;
  const std::vector<float> a = random_vector(static_cast<std::size_t>(m) * k, 9),
                           b = random_vector(static_cast<std::size_t>(k) * n, 10);
  DeviceBuffer<float> da = to_device(a), db = to_device(b), c1(m * n), c2(m * n);
  c1.fill_bytes(0xFF);
  c2.fill_bytes(0xFF);
  blas::gemm(Op::T, Op::T, m, n, k, 1.0f, da.data(), m, db.data(), k, 0.0f, c1.data(), n);
  blas::gemm(Op::T, Op::T, m, n, k, 1.0f, da.data(), m, db.data(), k, 0.0f, c2.data(), n);
  const std::vector<float> h1 = c1.to_host(), h2 = c2.to_host();
  EXPECT_EQ(std::memcmp(h1.data(), h2.data(), h1.size() * sizeof(float)), 0);
  std::vector<float> c0(h1.size(), kNaN);
  check_c({Op::T, Op::T, m, n, k, 0, 1.0f, 0.0f, GetParam()}, a, m, b, k, c0, h1, n, 0, 0, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, GemmBackendTest, ::testing::ValuesIn(backends()),
                         [](const auto& info) {
                           return info.param == CpuGemm::OneDnn ? std::string("onednn")
                                                                : std::string("openblas");
                         });

// Runs f and expects a gq::Error whose message contains `needle`.
template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected gq::Error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Gemm, InvalidArgumentsThrow) {
  DeviceBuffer<float> a(64), b(64), c(64);
  auto g = [&](Op oa, Op ob, int m, int n, int k, int lda, int ldb, int ldc) {
    return [=, &a, &b, &c] {
      blas::gemm(oa, ob, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), ldc);
    };
  };
  expect_error(g(Op::N, Op::N, 0, 4, 4, 4, 4, 4), "m=0");
  expect_error(g(Op::N, Op::N, 4, -1, 4, 4, 4, 4), "n=-1");
  expect_error(g(Op::N, Op::N, 4, 4, 0, 4, 4, 4), "k=0");
  expect_error(g(Op::N, Op::N, 4, 4, 5, 4, 4, 4), "lda=4");  // A is 4 x 5
  expect_error(g(Op::T, Op::N, 5, 4, 4, 4, 4, 4), "lda=4");  // A stored 4 x 5
  expect_error(g(Op::N, Op::N, 4, 5, 4, 4, 4, 5), "ldb=4");  // B is 4 x 5
  expect_error(g(Op::N, Op::T, 4, 4, 5, 5, 4, 4), "ldb=4");  // B stored 4 x 5
  expect_error(g(Op::N, Op::N, 4, 5, 4, 4, 5, 4), "ldc=4");
  expect_error(
      [&] { blas::gemm(Op::N, Op::N, 2, 2, 2, 1.0f, nullptr, 2, b.data(), 2, 0.0f, c.data(), 2); },
      "null pointer");
  expect_error(
      [&] {
        blas::gemm_strided_batched(Op::N, Op::N, 2, 2, 2, 1.0f, a.data(), 2, 4, b.data(), 2, 4,
                                   0.0f, c.data(), 2, 4, 0);
      },
      "batch must be positive, got 0");
  expect_error(
      [&] {
        blas::gemm_strided_batched(Op::N, Op::N, 2, 2, 2, 1.0f, a.data(), 2, 4, b.data(), 2, 4,
                                   0.0f, c.data(), 2, 3, 2);
      },
      "stride_c=3");
  expect_error(
      [&] {
        blas::gemm_strided_batched(Op::N, Op::N, 2, 2, 2, 1.0f, a.data(), 2, -4, b.data(), 2, 4,
                                   0.0f, c.data(), 2, 4, 2);
      },
      "stride_a=-4");
}

}  // namespace
}  // namespace gq
