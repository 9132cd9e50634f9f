// Sequential with bf16 activation storage (models/sequential_bf16.cpp), on a model with every kind
// airbench94 has (conv, GELU, max-pool, BatchNorm, flatten, linear), or GroupNorm for BatchNorm:
// - a layer's bf16 passes give the bits of its float passes between a widening and a rounding:
//   the model with its native layers (conv, max-pool, BatchNorm, GELU, flatten) and the same model
//   with every layer widened agree bit for bit on the output and every parameter gradient;
// - bf16 storage against float storage (both in bf16 compute) stays close, and is not the same;
// - the memory halves;
// - a backward hook (Grad Queue) reads exact float copies of the stored bf16 x and dy, for the
//   layers with parameters, and the gradients it takes are the ones left unwritten.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "models/conv2d.h"
#include "models/linear.h"
#include "models/norm_layers.h"
#include "models/sequential.h"
#include "models/simple_layers.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::models {
namespace {

// A layer's float passes only, so that Sequential widens around it: the reference for the bf16
// passes of the layer it wraps.
class Widened : public Layer {
 public:
  explicit Widened(std::unique_ptr<Layer> inner) : inner_(std::move(inner)) {}
  std::string kind() const override { return inner_->kind(); }
  bool has_params() const override { return inner_->has_params(); }
  Shape setup(const std::string& name, const Shape& in, int batch, ParamRegistry& p) override {
    inner_->set_precision(precision());
    return inner_->setup(name, in, batch, p);
  }
  void forward(const Context& ctx, const float* x, float* y) override {
    inner_->forward(ctx, x, y);
  }
  void backward(const Context& ctx, const float* x, const float* y, const float* dy,
                float* dx) override {
    inner_->backward(ctx, x, y, dy, dx);
  }

 private:
  std::unique_ptr<Layer> inner_;
};

constexpr int kBatch = 6, kClasses = 10;
const Shape kInput{3, 11, 9};

// The normalisation between pool and GELU: airbench94's BatchNorm, or paper-cnn's GroupNorm.
enum class Norm { batch, group };

std::unique_ptr<Sequential> model(Precision storage, bool widen_all, Norm norm = Norm::batch) {
  auto m = std::make_unique<Sequential>();
  const auto add = [&](const char* name, std::unique_ptr<Layer> l) {
    m->add(name, widen_all ? std::make_unique<Widened>(std::move(l)) : std::move(l));
  };
  add("conv", std::make_unique<Conv2d>(16, 3, 1, 1, /*bias=*/false));
  add("pool", std::make_unique<Pool2d>(PoolKind::max, 2, 2));
  if (norm == Norm::batch)
    add("norm", std::make_unique<BatchNorm2d>());
  else
    add("norm", std::make_unique<GroupNorm>(4));
  add("gelu", std::make_unique<ActivationLayer>(kernels::Activation::gelu));
  add("flatten", std::make_unique<Flatten>());
  add("fc", std::make_unique<Linear>(kClasses));
  m->setup(kInput, kBatch, Precision::bf16, storage);
  m->initialize(11);
  return m;
}

struct Pass {
  std::vector<float> out, grads;
};
Pass run(Sequential& m) {
  const auto x = test::to_device(test::random_vector(kBatch * kInput.numel(), 3, -2.0f, 2.0f));
  const auto dout = test::to_device(test::random_vector(kBatch * kClasses, 4));
  Context ctx;
  const float* y = m.forward(ctx, x.data());
  memset_device(m.params().grads(), 0xff, m.params().size() * sizeof(float));  // NaN: unwritten
  m.backward(ctx, dout.data());
  Pass p{std::vector<float>(kBatch * kClasses), std::vector<float>(m.params().size())};
  copy_to_host(p.out.data(), y, p.out.size() * sizeof(float));
  copy_to_host(p.grads.data(), m.params().grads(), p.grads.size() * sizeof(float));
  return p;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(Bf16Storage, NativeLayersGiveTheWidenedLayersBits) {
  for (const Norm norm : {Norm::batch, Norm::group}) {
    SCOPED_TRACE(norm == Norm::batch ? "BatchNorm" : "GroupNorm");
    auto native = model(Precision::bf16, false, norm), widened = model(Precision::bf16, true, norm);
    // The convolution has no bias: the emulator's library stores it bf16 (the GPU's does not yet).
    const std::vector<std::string> widened_kinds =
        GQ_WITH_CUDA ? std::vector<std::string>{"conv2d", "linear"}
                     : std::vector<std::string>{"linear"};
    EXPECT_EQ(native->widened_kinds(), widened_kinds);
    EXPECT_EQ(widened->widened_kinds().size(), 6u);
    const Pass a = run(*native), b = run(*widened);
    EXPECT_TRUE(same_bits(a.out, b.out)) << "forward output";
    EXPECT_TRUE(same_bits(a.grads, b.grads)) << "parameter gradients";
    const Pass again = run(*native);
    EXPECT_TRUE(same_bits(a.out, again.out) && same_bits(a.grads, again.grads)) << "rerun";
  }
}

// Relative to the largest value: storage rounds every activation and gradient to 8 significant
// bits, layer after layer (6 layers, each ~2^-8 relative), so a few percent of the scale at most.
TEST(Bf16Storage, StaysCloseToFloatStorage) {
  auto f = model(Precision::fp32, false), b = model(Precision::bf16, false);
  const Pass pf = run(*f), pb = run(*b);
  for (const auto& [got, want, what] :
       {std::tuple{pb.out, pf.out, "output"}, std::tuple{pb.grads, pf.grads, "gradients"}}) {
    double scale = 0, worst = 0;
    for (float v : want) scale = std::max(scale, double(std::fabs(v)));
    for (std::size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::fabs(double(got[i]) - want[i]));
    EXPECT_GT(scale, 0.0) << what;
    EXPECT_LE(worst, 0.03 * scale) << what;
    EXPECT_FALSE(same_bits(got, want)) << what << ": bf16 storage gave float storage's bits";
  }
}

TEST(Bf16Storage, HalvesTheActivations) {
  auto f = model(Precision::fp32, false), b = model(Precision::bf16, false);
  // bf16 adds the input rounded and the output widened; gradients exactly half.
  const std::size_t io = kBatch * (kInput.numel() * 2 + kClasses * 4);
  EXPECT_EQ(b->activation_bytes(), f->activation_bytes() / 2 + io);
  EXPECT_EQ(b->activation_grad_bytes(), f->activation_grad_bytes() / 2);
  EXPECT_EQ(f->widening_bytes(), 0u);
  EXPECT_GT(b->widening_bytes(), 0u);
  EXPECT_THROW(b->activation(0), Error);
  EXPECT_THROW(f->activation_bf16(0), Error);
}

bool is_bf16(float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return (bits & 0xffffu) == 0;
}

// What a hook saw: the layers it was called for, each one's x and dy (empty: passed null); then
// the gradients.
struct Hooked {
  std::vector<int> called;
  std::vector<std::vector<float>> x, dy;
  std::vector<float> grads;
};

// Takes the conv's and the linear layer's gradients and reads their x and dy, as Grad Queue
// does; BatchNorm's are not read.
Sequential::BackwardHook make_hook(const Sequential& m, Hooked& h) {
  h = Hooked{{},
             std::vector<std::vector<float>>(m.num_layers()),
             std::vector<std::vector<float>>(m.num_layers()),
             {}};
  Sequential::BackwardHook hook;
  hook.after_layer = [&m, &h](int i, const float* x, const float* dy) {
    h.called.push_back(i);
    if (!x || !dy) return;
    h.x[i].resize(kBatch * (i == 0 ? kInput : m.output_shape(i - 1)).numel());
    h.dy[i].resize(kBatch * m.output_shape(i).numel());
    copy_to_host(h.x[i].data(), x, h.x[i].size() * sizeof(float));
    copy_to_host(h.dy[i].data(), dy, h.dy[i].size() * sizeof(float));
  };
  hook.reads_activations = {1, 0, 0, 0, 0, 1};
  hook.takes_param_grads = {1, 0, 0, 0, 0, 1};
  return hook;
}

// A pass with the hook, the gradients poisoned first: NaN where nothing wrote.
Hooked run_hooked(Sequential& m, const float* x, const float* dout, bool prepare = true) {
  Hooked h;
  const Sequential::BackwardHook hook = make_hook(m, h);
  if (prepare) m.prepare_backward_hook(hook);
  m.forward(Context{}, x);
  memset_device(m.params().grads(), 0xff, m.params().size() * sizeof(float));
  m.backward(Context{}, dout, hook);
  h.grads.resize(m.params().size());
  copy_to_host(h.grads.data(), m.params().grads(), h.grads.size() * sizeof(float));
  return h;
}

// Called for the layers with parameters only (with nulls for BatchNorm, which it does not read),
// with float copies of the stored bf16: the same bits whether a layer has bf16 passes (copies
// made for the hook) or is widened (its own copies); each x is the stored output before it; the
// gradients the hook takes stay unwritten, the others are the plain backward's; and the linear
// layer's (x, dy) give the weight gradient it writes without a hook. Float storage calls the same
// layers.
TEST(Bf16Storage, AHookReadsWidenedCopiesAndTakesParameterGradients) {
  auto m = model(Precision::bf16, false), widened = model(Precision::bf16, true);
  const auto x = test::to_device(test::random_vector(kBatch * kInput.numel(), 3, -2.0f, 2.0f));
  const auto dout = test::to_device(test::random_vector(kBatch * kClasses, 4));
  const std::size_t widening = m->widening_bytes();
  EXPECT_THROW(run_hooked(*m, x.data(), dout.data(), false), Error) << "not prepared";
  const Pass plain = run(*m);  // the same x and dout
  const Hooked h = run_hooked(*m, x.data(), dout.data());
  EXPECT_GT(m->widening_bytes(), widening) << "the conv's x and dy need float copies";
  const Hooked hw = run_hooked(*widened, x.data(), dout.data());
  auto f = model(Precision::fp32, false);
  EXPECT_EQ(run_hooked(*f, x.data(), dout.data()).called, (std::vector<int>{5, 2, 0}));
  EXPECT_EQ(h.called, (std::vector<int>{5, 2, 0}));
  EXPECT_EQ(hw.called, h.called);
  EXPECT_TRUE(h.x[2].empty() && h.dy[2].empty()) << "BatchNorm's x and dy were passed";
  for (int i : {5, 0}) {
    ASSERT_FALSE(h.x[i].empty()) << "layer " << i;
    EXPECT_TRUE(same_bits(h.x[i], hw.x[i])) << "layer " << i << " x";
    EXPECT_TRUE(same_bits(h.dy[i], hw.dy[i])) << "layer " << i << " dy";
    for (float v : h.dy[i]) ASSERT_TRUE(is_bf16(v)) << "layer " << i << " dy " << v;
  }
  std::vector<bf16> stored(h.x[5].size());
  copy_to_host(stored.data(), m->activation_bf16(4), stored.size() * sizeof(bf16));
  for (std::size_t j = 0; j < stored.size(); ++j) ASSERT_EQ(h.x[5][j], to_float(stored[j]));
  for (const ParamInfo& p : m->params().infos())
    for (std::size_t j = p.offset; j < p.offset + p.numel(); ++j)
      if (p.name.rfind("norm", 0) == 0)
        ASSERT_EQ(h.grads[j], plain.grads[j]) << p.name;
      else
        ASSERT_TRUE(std::isnan(h.grads[j])) << p.name << " was written";
  // dW[o][f] = sum over the batch of dy[n][o] x[n][f].
  const int features = static_cast<int>(m->output_shape(4).numel());
  const std::size_t w = m->params().infos()[m->param_ids(5).first].offset;
  for (int o = 0; o < kClasses; ++o)
    for (int f = 0; f < features; ++f) {
      double want = 0;
      for (int n = 0; n < kBatch; ++n)
        want += double(h.dy[5][n * kClasses + o]) * h.x[5][n * features + f];
      ASSERT_NEAR(plain.grads[w + o * features + f], want, 1e-5 * (1 + std::fabs(want)));
    }
}

}  // namespace
}  // namespace gq::models
