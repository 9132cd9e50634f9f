// gq::dnn on the CPU (emulator build): oneDNN 2.6 (v2 API: operation descriptor, then primitive
// descriptor). Device memory is host memory here, so user pointers are wrapped directly.
//
// Layout: the primitives are created with format_tag::any so oneDNN picks its fast blocked
// layouts (nChw16c / OIhw16i16o on AVX-512); user tensors stay plain NCHW / KCRS and are reordered
// into and out of plan-owned buffers around each call. Measured on the CIFAR shapes (n=128, 3x3,
// one thread) blocked + reorders is 2-4x faster than plain NCHW, except backward data with c=3,
// which stays plain. GQ_DNN_LAYOUT=plain forces plain layouts everywhere (no reorders), for
// measurement. All memory (reorder buffers, the user-mode scratchpad shared by the three
// primitives, the accumulate buffer) is allocated at construction; calls allocate no tensors.
//
// Precision::bf16: each primitive reads its two inputs as bf16 (explicit bf16 memory
// descriptors; the reorders from the user's fp32 round to nearest even) and writes fp32. oneDNN
// 2.6's fpmath_mode::bf16 attribute is not used: on this AVX512-BF16 CPU (no AMX) it still
// chose the f32 kernels (jit:avx512_core), while bf16 descriptors give jit_bf16:avx512_core_bf16
// (checked with DNNL_VERBOSE; implementation() reports what was chosen). The reorders convert
// with the CPU's vcvtneps2bf16, which reads subnormal floats as zero. A bf16 plan also takes
// activations stored in bf16 (bf16 activation storage: x, y, dy, dx), through a second set of
// ports whose reorders convert the primitives' fp32 outputs to bf16 the same way.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "runtime/capture.h"
#include "runtime/dnn.h"

namespace gq::dnn {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// One tensor argument of a primitive: the user's plain memory (its handle set per call) and,
// when the primitive wants another layout, a memory in that layout on a plan-owned buffer plus
// the reorder between them.
struct Port {
  memory user;            // plain layout, wraps the caller's pointer
  memory prim;            // what the primitive reads/writes (== user when the layouts match)
  dnnl::reorder reorder;  // user -> prim (inputs) or prim -> user (outputs); empty if not needed
  bool needs_reorder = false;

  Port() = default;
  Port(const dnnl::engine& eng, const memory::desc& user_md, const memory::desc& prim_md)
      : user(user_md, eng, DNNL_MEMORY_NONE) {
    if (prim_md == user_md) {
      prim = user;
    } else {
      needs_reorder = true;
      prim = memory(prim_md, eng, DNNL_MEMORY_NONE);  // bound to a plan buffer by Impl
    }
  }
  std::size_t buffer_bytes() const { return needs_reorder ? prim.get_desc().get_size() : 0; }
  void finish(void* buffer, bool is_input) {
    if (!needs_reorder) return;
    prim.set_data_handle(buffer);
    reorder = is_input ? dnnl::reorder(user, prim) : dnnl::reorder(prim, user);
  }
};

// A plan-owned, 64-byte aligned host buffer.
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t bytes) : data_(bytes ? (bytes + 63) / 64 : 0) {}
  void* data() { return data_.empty() ? nullptr : data_.data(); }
  std::size_t bytes() const { return data_.size() * 64; }

 private:
  struct alignas(64) Line {
    unsigned char b[64];
  };
  std::vector<Line> data_;
};

bool force_plain_layout() {
  const char* env = std::getenv("GQ_DNN_LAYOUT");
  return env != nullptr && std::string(env) == "plain";
}

// x, w and y of a convolution: plain NCHW / KCRS / NKPQ, or any layout oneDNN prefers; fp32,
// or bf16 for the tensors named in `bf16` (a pass's two inputs, in mixed precision).
struct Tensors {
  memory::desc x, w, y;
};
struct Bf16Inputs {
  bool x = false, w = false, y = false;
};
Tensors tensors(const Conv2dShape& s, bool plain, Bf16Inputs bf16 = {}) {
  const auto desc = [](const memory::dims& dims, tag t, bool half) {
    return memory::desc(dims, half ? dt::bf16 : dt::f32, t);
  };
  return {desc({s.n, s.c, s.h, s.w}, plain ? tag::nchw : tag::any, bf16.x),
          desc({s.k, s.c, s.r, s.s}, plain ? tag::oihw : tag::any, bf16.w),
          desc({s.n, s.k, s.out_h(), s.out_w()}, plain ? tag::nchw : tag::any, bf16.y)};
}

// The three primitives' descriptors; their layouts are what oneDNN chose.
struct PrimitiveDescs {
  dnnl::convolution_forward::primitive_desc fwd;
  dnnl::convolution_backward_data::primitive_desc bwd_data;
  dnnl::convolution_backward_weights::primitive_desc bwd_weights;
};
PrimitiveDescs describe(const Conv2dShape& s, Precision precision, const dnnl::engine& eng) {
  const memory::dims strides{s.stride_h, s.stride_w};
  const memory::dims pad_l{s.pad_h, s.pad_w};
  // Right/bottom padding that makes the output size exact: with stride > 1 the last rows of
  // the padded input may not be reached, and oneDNN wants pad_r to match the output size.
  const memory::dims pad_r{(s.out_h() - 1) * s.stride_h + s.r - s.h - s.pad_h,
                           (s.out_w() - 1) * s.stride_w + s.s - s.w - s.pad_w};
  const bool plain = force_plain_layout();
  const bool half = precision == Precision::bf16;
  // Each pass's inputs: forward x, w; backward data dy, w; backward weights x, dy.
  const Tensors t = tensors(s, plain, {half, half, false});
  // bf16 backward weights of a layer that widens 4x or more (k >= 4c) in plain layouts, which
  // select oneDNN's gemm-based kernel: its jit_bf16 kernel ran 2-19x slower there on this CPU
  // (2 threads: 64 -> 256 channels at 15x15, n = 1024, 2356 vs 461 ms; 32 -> 128 at 15x15, 64 -> 256
  // and 128 -> 512 at 8x8 alike), and 1.5-2x faster than gemm below that ratio (24 -> 64 at 31x31,
  // 64 -> 64 at 15x15, 256 -> 256 at 3x3).
  const Tensors tw = tensors(s, plain || (half && s.k >= 4 * s.c), {half, false, half});
  // Blocked layouts pad channels to the SIMD block; backward data with few input channels
  // (a first layer) ran faster in plain NCHW (measured: c=3, 26 vs 18 GFLOP/s).
  const Tensors tb = tensors(s, plain || s.c < 8, {false, half, half});  // backward data
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  // Direct convolution only: no Winograd (different rounding, less exact).
  const auto algo = dnnl::algorithm::convolution_direct;
  using Fwd = dnnl::convolution_forward;
  using BwdData = dnnl::convolution_backward_data;
  using BwdWeights = dnnl::convolution_backward_weights;
  const Fwd::primitive_desc fwd(
      Fwd::desc(dnnl::prop_kind::forward_training, algo, t.x, t.w, t.y, strides, pad_l, pad_r),
      attr, eng);
  return {fwd,
          BwdData::primitive_desc(
              BwdData::desc(algo, tb.x, tb.w, tb.y, strides, pad_l, pad_r), attr, eng, fwd),
          BwdWeights::primitive_desc(
              BwdWeights::desc(algo, tw.x, tw.w, tw.y, strides, pad_l, pad_r), attr, eng, fwd)};
}

}  // namespace

std::string library_version() {
  const dnnl_version_t* v = dnnl::version();
  return fmt::format("emulator: oneDNN {}.{}.{}", v->major, v->minor, v->patch);
}

// The nine ports of the three passes for one storage of the user's x, y, dy and dx (float, or
// bf16 for bf16 activation storage; weights and their gradient are float either way), and the
// arguments each primitive runs with.
struct PortSet {
  Port f_x, f_w, f_y;    // forward: x, w -> y
  Port d_dy, d_w, d_dx;  // backward data: dy, w -> dx
  Port w_x, w_dw, w_dy;  // backward weights: x, dy -> dw
  std::unordered_map<int, memory> f_args, d_args, w_args;
};

struct Conv2d::Impl {
  Conv2dShape shape;
  Precision precision;
  std::string implementation;  // oneDNN's names for the three primitives
  std::vector<std::string> names;  // the distinct ones
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  // Reorder buffers, shared between the passes (which never run concurrently on one plan) and
  // the port sets: slot 0 holds the first input of each pass, slot 1 the weights (or dw), slot 2
  // the other tensor. Plus the user-mode scratchpad shared by the three primitives, and the
  // accumulate buffer (backward_filter writes there, then adds to dw).
  std::array<Buffer, 3> slots;
  Buffer scratch_buf;
  std::vector<float> dw_tmp;
  memory scratchpad;

  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_data bwd_data;
  dnnl::convolution_backward_weights bwd_weights;
  PortSet f32;   // the user's activations in float
  PortSet bf16;  // in bf16 (a bf16 plan only): the reorders from the primitives' fp32 outputs
                 // round with oneDNN's conversion (subnormal results become zero)

  Impl(const Conv2dShape& s, Precision p) : shape(s), precision(p) {
    const PrimitiveDescs pd = describe(s, p, eng);
    implementation = describe_implementation(pd);
    fwd = dnnl::convolution_forward(pd.fwd);
    bwd_data = dnnl::convolution_backward_data(pd.bwd_data);
    bwd_weights = dnnl::convolution_backward_weights(pd.bwd_weights);
    make_ports(f32, pd, false);
    if (p == Precision::bf16) make_ports(bf16, pd, true);
    share_reorder_buffers();
    const std::size_t scratch = std::max({pd.fwd.scratchpad_desc().get_size(),
                                          pd.bwd_data.scratchpad_desc().get_size(),
                                          pd.bwd_weights.scratchpad_desc().get_size()});
    scratch_buf = Buffer(scratch);
    scratchpad = memory(memory::desc({static_cast<memory::dim>(scratch)}, dt::u8, tag::x), eng,
                        scratch_buf.data());
    dw_tmp.resize(s.w_elems());
    bind_arguments(f32);
    if (p == Precision::bf16) bind_arguments(bf16);
  }

  // oneDNN's implementation of each pass, e.g. "jit_bf16:avx512_core_bf16" (the start-up line).
  std::string describe_implementation(const PrimitiveDescs& pd) {
    const std::array<std::string, 3> pass{pd.fwd.impl_info_str(), pd.bwd_data.impl_info_str(),
                                          pd.bwd_weights.impl_info_str()};
    for (const std::string& n : pass)
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    return fmt::format("forward {}, backward data {}, backward filter {}", pass[0], pass[1],
                       pass[2]);
  }

  // Each tensor as the user passes it (plain; activations in bf16 for `half`) and as its
  // primitive wants it.
  void make_ports(PortSet& ps, const PrimitiveDescs& pd, bool half) {
    const Tensors plain = tensors(shape, true, {half, false, half});
    ps.f_x = Port(eng, plain.x, pd.fwd.src_desc());
    ps.f_w = Port(eng, plain.w, pd.fwd.weights_desc());
    ps.f_y = Port(eng, plain.y, pd.fwd.dst_desc());
    ps.d_dy = Port(eng, plain.y, pd.bwd_data.diff_dst_desc());
    ps.d_w = Port(eng, plain.w, pd.bwd_data.weights_desc());
    ps.d_dx = Port(eng, plain.x, pd.bwd_data.diff_src_desc());
    ps.w_x = Port(eng, plain.x, pd.bwd_weights.src_desc());
    ps.w_dw = Port(eng, plain.w, pd.bwd_weights.diff_weights_desc());
    ps.w_dy = Port(eng, plain.y, pd.bwd_weights.diff_dst_desc());
  }

  // Each slot is as large as the largest reorder buffer of its ports (see `slots`).
  void share_reorder_buffers() {
    struct Use {
      Port* port;
      bool is_input;
    };
    std::array<std::vector<Use>, 3> by_slot;
    for (PortSet* ps : {&f32, &bf16}) {
      by_slot[0].insert(by_slot[0].end(), {{&ps->f_x, true}, {&ps->d_dy, true}, {&ps->w_x, true}});
      by_slot[1].insert(by_slot[1].end(), {{&ps->f_w, true}, {&ps->d_w, true}, {&ps->w_dw, false}});
      by_slot[2].insert(by_slot[2].end(),
                        {{&ps->f_y, false}, {&ps->d_dx, false}, {&ps->w_dy, true}});
    }
    for (std::size_t i = 0; i < by_slot.size(); ++i) {
      std::size_t bytes = 0;
      for (const Use& u : by_slot[i]) bytes = std::max(bytes, u.port->buffer_bytes());
      slots[i] = Buffer(bytes);
      for (const Use& u : by_slot[i]) u.port->finish(slots[i].data(), u.is_input);
    }
  }

  void bind_arguments(PortSet& ps) {
    ps.f_args = {{DNNL_ARG_SRC, ps.f_x.prim},
                 {DNNL_ARG_WEIGHTS, ps.f_w.prim},
                 {DNNL_ARG_DST, ps.f_y.prim},
                 {DNNL_ARG_SCRATCHPAD, scratchpad}};
    ps.d_args = {{DNNL_ARG_DIFF_DST, ps.d_dy.prim},
                 {DNNL_ARG_WEIGHTS, ps.d_w.prim},
                 {DNNL_ARG_DIFF_SRC, ps.d_dx.prim},
                 {DNNL_ARG_SCRATCHPAD, scratchpad}};
    ps.w_args = {{DNNL_ARG_SRC, ps.w_x.prim},
                 {DNNL_ARG_DIFF_DST, ps.w_dy.prim},
                 {DNNL_ARG_DIFF_WEIGHTS, ps.w_dw.prim},
                 {DNNL_ARG_SCRATCHPAD, scratchpad}};
  }

  std::size_t owned_bytes() const {
    return slots[0].bytes() + slots[1].bytes() + slots[2].bytes() + scratch_buf.bytes() +
           dw_tmp.size() * sizeof(float);
  }

  // The port set of activations stored as T (bf16: a bf16 plan's, checked by the caller).
  template <class T>
  PortSet& ports() {
    if constexpr (std::is_same_v<T, float>)
      return f32;
    else
      return bf16;
  }

  static void bind(Port& p, const void* ptr) { p.user.set_data_handle(const_cast<void*>(ptr)); }
  void in(Port& p) {
    if (p.needs_reorder) p.reorder.execute(strm, p.user, p.prim);
  }
  void out(Port& p) {
    if (p.needs_reorder) p.reorder.execute(strm, p.prim, p.user);
  }

  // One pass: its two inputs bound and reordered in, the primitive, its output reordered out.
  void pass(const dnnl::primitive& prim, const std::unordered_map<int, memory>& args, Port& a,
            const void* a_ptr, Port& b, const void* b_ptr, Port& result, void* result_ptr) {
    bind(a, a_ptr);
    bind(b, b_ptr);
    bind(result, result_ptr);
    in(a);
    in(b);
    prim.execute(strm, args);
    out(result);
    strm.wait();
  }
  void forward(PortSet& ps, const void* x, const float* w, void* y) {
    pass(fwd, ps.f_args, ps.f_x, x, ps.f_w, w, ps.f_y, y);
  }
  void backward_data(PortSet& ps, const void* dy, const float* w, void* dx) {
    pass(bwd_data, ps.d_args, ps.d_dy, dy, ps.d_w, w, ps.d_dx, dx);
  }
  // oneDNN has no beta / sum post-op for backward weights: with accumulate, compute into the
  // plan's buffer, then add it to dw in a fixed order (deterministic).
  void backward_filter(PortSet& ps, const void* x, const void* dy, float* dw, bool accumulate) {
    pass(bwd_weights, ps.w_args, ps.w_x, x, ps.w_dy, dy, ps.w_dw, accumulate ? dw_tmp.data() : dw);
    if (!accumulate) return;
    const float* g = dw_tmp.data();
    for (std::size_t i = 0; i < dw_tmp.size(); ++i) dw[i] += g[i];
  }
};

namespace {
// Runs f, turning oneDNN's exceptions into gq::Error with context.
template <class F>
void guarded(const Conv2dShape& s, const char* what, F&& f) {
  try {
    f();
  } catch (const dnnl::error& e) {
    GQ_FAIL(
        "dnn::Conv2d::{} (n={} c={} h={} w={} k={} r={} s={} stride={}x{} pad={}x{}): oneDNN "
        "error {}: {}",
        what, s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w,
        static_cast<int>(e.status), e.what());
  }
}
}  // namespace

Conv2d::Conv2d(const Conv2dShape& shape, Precision precision)
    : shape_(shape), precision_(precision) {
  check_shape(shape);
  guarded(shape, "plan", [&] { impl_ = std::make_unique<Impl>(shape, precision); });
  implementation_ = impl_->implementation;
  implementation_names_ = impl_->names;
}

Conv2d::~Conv2d() = default;
Conv2d::Conv2d(Conv2d&&) noexcept = default;
Conv2d& Conv2d::operator=(Conv2d&&) noexcept = default;

std::size_t Conv2d::workspace_bytes() const {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  return impl_->owned_bytes();
}

void Conv2d::forward(const float* x, const float* w, float* y, stream_t stream) {
  run_forward(x, w, y, stream);
}
void Conv2d::forward(const bf16* x, const float* w, bf16* y, stream_t stream) {
  run_forward(x, w, y, stream);
}
void Conv2d::backward_data(const float* dy, const float* w, float* dx, stream_t stream) {
  run_backward_data(dy, w, dx, stream);
}
void Conv2d::backward_data(const bf16* dy, const float* w, bf16* dx, stream_t stream) {
  run_backward_data(dy, w, dx, stream);
}
void Conv2d::backward_filter(const float* x, const float* dy, float* dw, bool accumulate,
                             stream_t stream) {
  run_backward_filter(x, dy, dw, accumulate, stream);
}
void Conv2d::backward_filter(const bf16* x, const bf16* dy, float* dw, bool accumulate,
                             stream_t stream) {
  run_backward_filter(x, dy, dw, accumulate, stream);
}

namespace {
// Checked when called, not when a deferred stream runs the pass (the error names the call).
template <class T>
void check_storage(Precision precision, const char* what) {
  GQ_CHECK((std::is_same_v<T, float> || precision == Precision::bf16),
           "dnn::Conv2d::{}: bf16 activations need a plan made in Precision::bf16", what);
}
}  // namespace

template <class T>
void Conv2d::run_forward(const T* x, const float* w, T* y, stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  check_storage<T>(precision_, "forward");
  GQ_CHECK(x && w && y, "dnn::Conv2d::forward: null pointer (x={}, w={}, y={})",
           static_cast<const void*>(x), static_cast<const void*>(w), static_cast<void*>(y));
  // In a graph capture: the same call at each replay (the plan must stay where it is).
  if (gq::detail::record_library_call(stream, "dnn::Conv2d::forward",
                                      [=, this] { run_forward(x, w, y, stream); }))
    return;
  Impl& p = *impl_;
  guarded(p.shape, "forward", [&] { p.forward(p.ports<T>(), x, w, y); });
}

template <class T>
void Conv2d::run_backward_data(const T* dy, const float* w, T* dx, stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  check_storage<T>(precision_, "backward_data");
  GQ_CHECK(dy && w && dx, "dnn::Conv2d::backward_data: null pointer (dy={}, w={}, dx={})",
           static_cast<const void*>(dy), static_cast<const void*>(w), static_cast<void*>(dx));
  if (gq::detail::record_library_call(stream, "dnn::Conv2d::backward_data",
                                      [=, this] { run_backward_data(dy, w, dx, stream); }))
    return;
  Impl& p = *impl_;
  guarded(p.shape, "backward_data",
          [&] { p.backward_data(p.ports<T>(), dy, w, dx); });
}

template <class T>
void Conv2d::run_backward_filter(const T* x, const T* dy, float* dw, bool accumulate,
                                 stream_t stream) {
  GQ_CHECK(impl_ != nullptr, "dnn::Conv2d: use of a moved-from plan");
  check_storage<T>(precision_, "backward_filter");
  GQ_CHECK(x && dy && dw, "dnn::Conv2d::backward_filter: null pointer (x={}, dy={}, dw={})",
           static_cast<const void*>(x), static_cast<const void*>(dy), static_cast<void*>(dw));
  if (gq::detail::record_library_call(stream, "dnn::Conv2d::backward_filter", [=, this] {
        run_backward_filter(x, dy, dw, accumulate, stream);
      }))
    return;
  Impl& p = *impl_;
  guarded(p.shape, "backward_filter",
          [&] { p.backward_filter(p.ports<T>(), x, dy, dw, accumulate); });
}

bool Conv2d::bf16_activations() const {
  return precision_ == Precision::bf16;
}

}  // namespace gq::dnn
