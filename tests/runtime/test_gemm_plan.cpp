// blas::GemmPlan: fp32 is blas::gemm bit for bit; bf16 against a host reference that rounds A and
// B to bf16 (runtime/bf16.h) and accumulates in double, within fp32 accumulation's tolerance
// (products of bf16 values are exact in fp32), for every op combination, alpha and beta, padded
// leading dimensions; within 2^-7 sum|a b| of the exact product (each bf16 rounding moves an
// input by at most 2^-8 of itself, a product by less than 2^-7) yet not within fp32's tolerance
// (the precision is not ignored); bit-identical reruns.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "runtime/bf16.h"
#include "runtime/blas.h"
#include "runtime/gemm_plan.h"
#include "runtime/memory.h"
#include "tests/test_util.h"

namespace gq {
namespace {

using blas::GemmPlan;
using blas::GemmShape;
using blas::Op;

constexpr double kFp32Rel = 1e-5, kAbs = 1e-6, kBf16Rel = 1.0 / 128;

struct Case {
  GemmShape s;
  float alpha, beta;
  std::size_t a_elems() const { return std::size_t((s.op_a == Op::N ? s.m : s.k)) * s.lda; }
  std::size_t b_elems() const { return std::size_t((s.op_b == Op::N ? s.k : s.n)) * s.ldb; }
  std::size_t c_elems() const { return std::size_t(s.m) * s.ldc; }
};

// alpha op(A) op(B) + beta C in double, with sum |alpha a b| + |beta c| per element; inputs
// rounded to bf16 first when `round` is set.
struct Ref {
  std::vector<double> val, mag;
};
Ref reference(const Case& t, std::vector<float> a, std::vector<float> b, const std::vector<float>& c,
              bool round) {
  if (round) {
    for (float& v : a) v = to_float(to_bf16(v));
    for (float& v : b) v = to_float(to_bf16(v));
  }
  const GemmShape& s = t.s;
  Ref r{std::vector<double>(t.c_elems()), std::vector<double>(t.c_elems())};
  for (int i = 0; i < s.m; ++i)
    for (int j = 0; j < s.n; ++j) {
      double sum = 0, mag = 0;
      for (int l = 0; l < s.k; ++l) {
        const double av = s.op_a == Op::N ? a[std::size_t(i) * s.lda + l] : a[std::size_t(l) * s.lda + i];
        const double bv = s.op_b == Op::N ? b[std::size_t(l) * s.ldb + j] : b[std::size_t(j) * s.ldb + l];
        sum += av * bv;
        mag += std::fabs(av * bv);
      }
      const std::size_t at = std::size_t(i) * s.ldc + j;
      const double prior = t.beta != 0 ? double(t.beta) * c[at] : 0.0;
      r.val[at] = t.alpha * sum + prior;
      r.mag[at] = std::fabs(t.alpha) * mag + std::fabs(prior);
    }
  return r;
}

int count_outside(const Case& t, const std::vector<float>& got, const Ref& want, double rel) {
  int bad = 0;
  for (int i = 0; i < t.s.m; ++i)
    for (int j = 0; j < t.s.n; ++j) {
      const std::size_t at = std::size_t(i) * t.s.ldc + j;
      if (!(std::fabs(got[at] - want.val[at]) <= kAbs + rel * want.mag[at])) ++bad;
    }
  return bad;
}

class GemmPlanTest : public ::testing::TestWithParam<Case> {
 protected:
  Case t = GetParam();
  std::vector<float> a = test::random_vector(t.a_elems(), 1);
  std::vector<float> b = test::random_vector(t.b_elems(), 2);
  std::vector<float> c0 = test::random_vector(t.c_elems(), 3);

  std::vector<float> run(GemmPlan& plan) {
    auto da = test::to_device(a), db = test::to_device(b), dc = test::to_device(c0);
    plan.run(da.data(), db.data(), dc.data());
    return dc.to_host();
  }
};

TEST_P(GemmPlanTest, Fp32IsBlasGemmBitForBit) {
  GemmPlan plan(t.s, t.alpha, t.beta, Precision::fp32);
  const std::vector<float> got = run(plan);
  auto da = test::to_device(a), db = test::to_device(b), dc = test::to_device(c0);
  blas::gemm(t.s.op_a, t.s.op_b, t.s.m, t.s.n, t.s.k, t.alpha, da.data(), t.s.lda, db.data(),
             t.s.ldb, t.beta, dc.data(), t.s.ldc);
  const std::vector<float> want = dc.to_host();
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
}

TEST_P(GemmPlanTest, Bf16IsTheRoundedInputsAccumulatedInFp32) {
  GemmPlan plan(t.s, t.alpha, t.beta, Precision::bf16);
  const std::vector<float> got = run(plan);
  EXPECT_EQ(count_outside(t, got, reference(t, a, b, c0, true), kFp32Rel), 0);
  // Outside C's m x n block (ldc > n) nothing is written.
  for (int i = 0; i < t.s.m; ++i)
    for (int j = t.s.n; j < t.s.ldc; ++j)
      EXPECT_EQ(got[std::size_t(i) * t.s.ldc + j], c0[std::size_t(i) * t.s.ldc + j]);
}

TEST_P(GemmPlanTest, Bf16CloseToExactButNotFp32) {
  GemmPlan plan(t.s, t.alpha, t.beta, Precision::bf16);
  const std::vector<float> got = run(plan);
  const Ref exact = reference(t, a, b, c0, false);
  EXPECT_EQ(count_outside(t, got, exact, kBf16Rel + kFp32Rel), 0);
  EXPECT_GT(count_outside(t, got, exact, kFp32Rel), 0) << "bf16 gave fp32's accuracy";
}

TEST_P(GemmPlanTest, Bf16BitIdenticalReruns) {
  GemmPlan plan(t.s, t.alpha, t.beta, Precision::bf16);
  const std::vector<float> x = run(plan), y = run(plan);
  EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0);
}

Case mk(Op oa, Op ob, int m, int n, int k, int pad, float alpha, float beta) {
  const int lda = (oa == Op::N ? k : m) + pad, ldb = (ob == Op::N ? n : k) + pad, ldc = n + pad;
  return {GemmShape{oa, ob, m, n, k, lda, ldb, ldc}, alpha, beta};
}

// The linear layer's three GEMMs (N,T forward; T,N weight gradient; N,N input gradient), T,T,
// alpha (airbench94's logit scale 1/9), beta, and padded leading dimensions.
INSTANTIATE_TEST_SUITE_P(
    Shapes, GemmPlanTest,
    ::testing::Values(mk(Op::N, Op::T, 16, 10, 64, 0, 1.0f, 0.0f),
                      mk(Op::T, Op::N, 10, 64, 16, 0, 1.0f / 9, 0.0f),
                      mk(Op::N, Op::N, 16, 64, 10, 0, 1.0f / 9, 0.0f),
                      mk(Op::T, Op::T, 7, 9, 33, 3, 2.0f, 0.5f),
                      mk(Op::N, Op::N, 33, 17, 129, 5, 1.0f, 1.0f)));

}  // namespace
}  // namespace gq
