// blas::GemmPlan on the CPU (emulator build): fp32 forwards to blas::gemm; bf16 rounds A and B
// into plan-owned bf16 copies with gq::to_bf16 (the GPU's rounding) and runs a oneDNN matmul
// primitive (bf16 x bf16 -> fp32, fp32 accumulation) planned once for the shape. oneDNN's matmul
// splits work over output blocks with a fixed k order, so the result is bit-identical run to run
// for a given thread count. Device memory is host memory here.
#include <oneapi/dnnl/dnnl.hpp>

#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "runtime/bf16.h"
#include "runtime/capture.h"
#include "runtime/gemm_plan.h"

namespace gq::blas {

namespace {

using dnnl::memory;
using dt = memory::data_type;

// A stored matrix (rows x cols, leading dimension ld) rounded to a compact bf16 copy.
void round_rows(const float* src, int rows, int cols, int ld, bf16* dst) {
  for (int r = 0; r < rows; ++r) {
    const float* in = src + static_cast<std::size_t>(r) * ld;
    bf16* out = dst + static_cast<std::size_t>(r) * cols;
    for (int c = 0; c < cols; ++c) out[c] = to_bf16(in[c]);
  }
}

// op(X) as oneDNN sees it (dims rows x cols of the product) on the compact copy of X as stored.
memory::desc compact_bf16(int rows, int cols, Op op) {
  return op == Op::N ? memory::desc({rows, cols}, dt::bf16, memory::dims{cols, 1})
                     : memory::desc({rows, cols}, dt::bf16, memory::dims{1, rows});
}

}  // namespace

struct GemmPlan::Impl {
  GemmShape shape;
  float alpha, beta;
  Precision precision;
  std::string implementation = "blas::gemm";
  // bf16 only:
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  std::vector<bf16> a16, b16;
  std::vector<unsigned char> scratch;
  dnnl::matmul matmul;
  memory a_mem, b_mem, c_mem, scratch_mem;
  std::unordered_map<int, memory> args;  // bound once: a call builds nothing

  Impl(const GemmShape& s, float al, float be, Precision p)
      : shape(s), alpha(al), beta(be), precision(p) {
    if (p == Precision::bf16) plan_bf16();
  }

  void plan_bf16() {
    const GemmShape& s = shape;
    a16.resize(static_cast<std::size_t>(s.m) * s.k);
    b16.resize(static_cast<std::size_t>(s.k) * s.n);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
    if (beta != 0.0f) {
      dnnl::post_ops ops;
      ops.append_sum(beta);
      attr.set_post_ops(ops);
    }
    const memory::desc a_md = compact_bf16(s.m, s.k, s.op_a);
    const memory::desc b_md = compact_bf16(s.k, s.n, s.op_b);
    const memory::desc c_md({s.m, s.n}, dt::f32, memory::dims{s.ldc, 1});
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), attr, eng);
    matmul = dnnl::matmul(pd);
    implementation = pd.impl_info_str();
    scratch.resize(pd.scratchpad_desc().get_size());
    a_mem = memory(a_md, eng, a16.data());
    b_mem = memory(b_md, eng, b16.data());
    c_mem = memory(c_md, eng, DNNL_MEMORY_NONE);
    scratch_mem = memory(pd.scratchpad_desc(), eng, scratch.empty() ? nullptr : scratch.data());
    args = {{DNNL_ARG_SRC, a_mem},
            {DNNL_ARG_WEIGHTS, b_mem},
            {DNNL_ARG_DST, c_mem},
            {DNNL_ARG_SCRATCHPAD, scratch_mem}};
  }

  void run_bf16(const float* a, const float* b, float* c) {
    const GemmShape& s = shape;
    // Copies of A and B as stored: m x k (N) or k x m (T), likewise B.
    round_rows(a, s.op_a == Op::N ? s.m : s.k, s.op_a == Op::N ? s.k : s.m, s.lda, a16.data());
    round_rows(b, s.op_b == Op::N ? s.k : s.n, s.op_b == Op::N ? s.n : s.k, s.ldb, b16.data());
    c_mem.set_data_handle(c);
    matmul.execute(strm, args);
    strm.wait();
  }
};

GemmPlan::GemmPlan(const GemmShape& s, float alpha, float beta, Precision precision)
    : shape_(s), precision_(precision) {
  detail::check_gemm_dims(s.op_a, s.op_b, s.m, s.n, s.k, s.lda, s.ldb, s.ldc);
  try {
    impl_ = std::make_unique<Impl>(s, alpha, beta, precision);
  } catch (const dnnl::error& e) {
    GQ_FAIL("blas::GemmPlan (m={} n={} k={}, {}): oneDNN error {}: {}", s.m, s.n, s.k,
            name(precision), static_cast<int>(e.status), e.what());
  }
  implementation_ = impl_->implementation;
}

GemmPlan::~GemmPlan() = default;
GemmPlan::GemmPlan(GemmPlan&&) noexcept = default;
GemmPlan& GemmPlan::operator=(GemmPlan&&) noexcept = default;

void GemmPlan::run(const float* a, const float* b, float* c, stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "blas::GemmPlan: use of a moved-from plan");
  Impl& p = *impl_;
  const GemmShape& s = p.shape;
  if (p.precision == Precision::fp32) {
    gemm(s.op_a, s.op_b, s.m, s.n, s.k, p.alpha, a, s.lda, b, s.ldb, p.beta, c, s.ldc, stream);
    return;
  }
  GQ_CHECK(a && b && c, "blas::GemmPlan::run: null pointer (a={}, b={}, c={})",
           static_cast<const void*>(a), static_cast<const void*>(b), static_cast<void*>(c));
  if (gq::detail::record_library_call(stream, "blas::GemmPlan::run",
                                      [=, this] { run(a, b, c, stream); }))
    return;  // in a graph capture: runs at each replay (the plan must stay where it is)
  try {
    p.run_bf16(a, b, c);
  } catch (const dnnl::error& e) {
    GQ_FAIL("blas::GemmPlan::run (m={} n={} k={}, bf16): oneDNN error {}: {}", s.m, s.n, s.k,
            static_cast<int>(e.status), e.what());
  }
}

std::size_t GemmPlan::workspace_bytes() const {
  GQ_CHECK(impl_ != nullptr, "blas::GemmPlan: use of a moved-from plan");
  return (impl_->a16.size() + impl_->b16.size()) * sizeof(bf16) + impl_->scratch.size();
}


}  // namespace gq::blas
