// Layers through the Sequential container: whole-model gradients against finite differences,
// shapes and parameter counts of the zoo, and the parameter registry's layout.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/elementwise.h"
#include "kernels/per_cluster_grad.h"
#include "models/conv2d.h"
#include "models/linear.h"
#include "models/norm_layers.h"
#include "models/sequential.h"
#include "models/simple_layers.h"
#include "models/zoo.h"
#include "runtime/error.h"
#include "tests/test_util.h"

namespace gq::models {
namespace {

// Whether the kernels take the GPU's launch decisions (runtime/portable.cuh, kEmulatorShapes): a
// host file cannot include that header in the GPU build, whose device code nvcc compiles.
#if GQ_WITH_CUDA || GQ_EMU_GPU_DECISIONS
constexpr bool kGpuDecisions = true;
#else
constexpr bool kGpuDecisions = false;
#endif

// A small smooth model (GELU, average pooling) so central differences are well defined.
std::unique_ptr<Sequential> tiny_model(bool batchnorm) {
  auto m = std::make_unique<Sequential>();
  m->add("conv1", std::make_unique<Conv2d>(6, 3, 1, 1));
  if (batchnorm)
    m->add("norm1", std::make_unique<BatchNorm2d>());
  else
    m->add("norm1", std::make_unique<GroupNorm>(3));
  m->add("gelu1", std::make_unique<ActivationLayer>(kernels::Activation::gelu));
  m->add("pool1", std::make_unique<Pool2d>(PoolKind::avg, 2, 2));
  m->add("conv2", std::make_unique<Conv2d>(4, 3, 2, 1));
  m->add("gap", std::make_unique<GlobalAvgPool>());
  m->add("fc", std::make_unique<Linear>(5));
  return m;
}

// L = sum(out * g) in double, from a forward pass.
double loss_of(Sequential& m, const DeviceBuffer<float>& x, const std::vector<float>& g) {
  Context ctx;
  m.forward(ctx, x.data());
  std::vector<float> out(g.size());
  copy_to_host(out.data(), m.output(), out.size() * sizeof(float));
  double l = 0;
  for (std::size_t i = 0; i < g.size(); ++i) l += double(out[i]) * g[i];
  return l;
}

void check_gradients(bool batchnorm) {
  const int batch = 3;
  auto m = tiny_model(batchnorm);
  m->setup(Shape{2, 9, 7}, batch);
  m->initialize(3);
  const auto hx = test::random_vector(std::size_t(batch) * 2 * 9 * 7, 1);
  auto x = test::to_device(hx);
  const auto g = test::random_vector(std::size_t(batch) * 5, 2);
  auto dout = test::to_device(g);

  Context ctx;
  m->forward(ctx, x.data());
  m->backward(ctx, dout.data());
  ParamRegistry& reg = m->params();
  std::vector<float> values(reg.size()), grads(reg.size());
  copy_to_host(values.data(), reg.values(), values.size() * 4);
  copy_to_host(grads.data(), reg.grads(), grads.size() * 4);

  // A few coordinates of every tensor.
  for (const ParamInfo& p : reg.infos()) {
    for (std::size_t k = 0; k < std::min<std::size_t>(p.numel(), 4); ++k) {
      const std::size_t j = p.offset + (k * 7919) % p.numel();
      const float h = 1e-2f;
      auto eval_at = [&](float v) {
        copy_to_device(reg.values() + j, &v, 4);
        const double l = loss_of(*m, x, g);
        copy_to_device(reg.values() + j, &values[j], 4);
        return l;
      };
      const double fd = (eval_at(values[j] + h) - eval_at(values[j] - h)) / (2.0 * h);
      EXPECT_NEAR(grads[j], fd, 2e-3 + 2e-2 * std::fabs(fd))
          << p.name << " element " << j - p.offset;
    }
  }
}

TEST(SequentialGradients, MatchFiniteDifferencesWithGroupNorm) {
  check_gradients(false);
}
TEST(SequentialGradients, MatchFiniteDifferencesWithBatchNorm) {
  check_gradients(true);
}

// A backward hook that takes the parameter gradients of the conv and linear layers (as Grad
// Queue does): those layers write dx only, the same bits as a full backward, their gradients stay
// as they were, and the other layers' gradients are the full backward's.
TEST(SequentialBackwardHook, LayersWhoseGradientsTheHookTakesWriteDxOnly) {
  const int batch = 3;
  auto m = tiny_model(true);
  m->setup(Shape{2, 9, 7}, batch);
  m->initialize(3);
  const auto x = test::to_device(test::random_vector(std::size_t(batch) * 2 * 9 * 7, 1));
  const auto dout = test::to_device(test::random_vector(std::size_t(batch) * 5, 2));
  ParamRegistry& reg = m->params();
  auto run = [&](bool take) {
    kernels::fill(reg.grads(), reg.size(), std::nanf(""));
    std::vector<std::vector<float>> dys(m->num_layers());
    Sequential::BackwardHook hook;
    hook.after_layer = [&](int layer, const float*, const float* dy) {
      dys[layer].resize(std::size_t(batch) * m->output_shape(layer).numel());
      copy_to_host(dys[layer].data(), dy, dys[layer].size() * sizeof(float));
    };
    if (take)
      for (int i = 0; i < m->num_layers(); ++i)
        hook.takes_param_grads.push_back(m->layer(i).kind() == "conv2d" ||
                                         m->layer(i).kind() == "linear");
    Context ctx;
    m->forward(ctx, x.data());
    m->backward(ctx, dout.data(), hook);
    std::vector<float> grads(reg.size());
    copy_to_host(grads.data(), reg.grads(), grads.size() * sizeof(float));
    return std::make_pair(dys, grads);
  };
  const auto [full_dy, full_grads] = run(false);
  const auto [taken_dy, taken_grads] = run(true);
  EXPECT_EQ(taken_dy, full_dy);  // every layer's dy, hence every dx, bit for bit
  int skipped = 0;
  for (const ParamInfo& p : reg.infos()) {
    const bool conv_or_fc = p.name.rfind("conv", 0) == 0 || p.name.rfind("fc", 0) == 0;
    for (std::size_t j = p.offset; j < p.offset + p.numel(); ++j) {
      if (conv_or_fc) {
        EXPECT_TRUE(std::isnan(taken_grads[j])) << p.name << " was written";
        skipped += 1;
      } else {
        ASSERT_FALSE(std::isnan(full_grads[j])) << p.name;
        EXPECT_EQ(taken_grads[j], full_grads[j]) << p.name;
      }
    }
  }
  EXPECT_GT(skipped, 0);
  Sequential::BackwardHook wrong;
  wrong.takes_param_grads = {1};
  EXPECT_THROW(m->backward(Context{}, dout.data(), wrong), Error);
}

// The zoo pools before the ReLU (models/zoo.cpp, relu_then_pool): the output and every
// gradient must be the bits of ReLU then pool. A conv in front gives windows of mixed sign (about
// one in 16 has a negative max) and carries dx into a parameter gradient.
TEST(Zoo, PoolThenReluGivesTheBitsOfReluThenPool) {
  const int batch = 3;
  auto make = [](bool pool_first) {
    auto m = std::make_unique<Sequential>();
    m->add("conv", std::make_unique<Conv2d>(4, 3, 1, 1));
    auto relu = std::make_unique<ActivationLayer>(kernels::Activation::relu);
    auto pool = std::make_unique<Pool2d>(PoolKind::max, 2, 2);
    if (pool_first) {
      m->add("pool", std::move(pool));
      m->add("relu", std::move(relu));
    } else {
      m->add("relu", std::move(relu));
      m->add("pool", std::move(pool));
    }
    m->add("flatten", std::make_unique<Flatten>());
    m->add("fc", std::make_unique<Linear>(5));
    m->setup(Shape{2, 10, 6}, batch);
    m->initialize(11);
    return m;
  };
  const auto x = test::to_device(test::random_vector(std::size_t(batch) * 2 * 10 * 6, 4));
  const auto dout = test::to_device(test::random_vector(std::size_t(batch) * 5, 5));
  std::vector<float> out[2], grads[2];
  int negative_windows = 0;
  for (int pool_first = 0; pool_first < 2; ++pool_first) {
    auto m = make(pool_first == 1);
    Context ctx;
    m->forward(ctx, x.data());
    m->backward(ctx, dout.data());
    out[pool_first].resize(std::size_t(batch) * 5);
    copy_to_host(out[pool_first].data(), m->output(), out[pool_first].size() * 4);
    grads[pool_first].resize(m->params().size());
    copy_to_host(grads[pool_first].data(), m->params().grads(), grads[pool_first].size() * 4);
    if (pool_first) {  // the pooled, pre-ReLU maxima
      std::vector<float> pooled(std::size_t(batch) * 4 * 5 * 3);
      copy_to_host(pooled.data(), m->activation(1), pooled.size() * 4);
      for (float v : pooled) negative_windows += v < 0.0f;
    }
  }
  EXPECT_GT(negative_windows, 0);
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(grads[0], grads[1]);
}

TEST(ParamRegistry, DecayedTensorsComeFirstAndContiguous) {
  auto m = tiny_model(false);
  m->setup(Shape{2, 9, 7}, 2);
  const ParamRegistry& reg = m->params();
  std::size_t decayed = 0;
  for (const ParamInfo& p : reg.infos()) {
    if (p.decay) {
      EXPECT_LT(p.offset, reg.decayed_count()) << p.name;
      decayed += p.numel();
    } else {
      EXPECT_GE(p.offset, reg.decayed_count()) << p.name;
    }
  }
  EXPECT_EQ(decayed, reg.decayed_count());
  // conv1 (6*2*9 + 6), norm (6 + 6), conv2 (4*6*9 + 4), fc (5*4 + 5)
  EXPECT_EQ(reg.size(), 108u + 6 + 12 + 216 + 4 + 20 + 5);
}

TEST(Zoo, ModelsHaveTheDocumentedShapes) {
  struct Want {
    const char* name;
    Shape input;
    std::size_t min_params, max_params;
  };
  const Want wants[] = {{"paper-cnn", Shape{3, 32, 32}, 90'000, 110'000},
                        {"airbench", Shape{3, 32, 32}, 1'900'000, 2'100'000},
                        {"airbench94", Shape{3, 32, 32}, 1'970'000, 1'975'000},
                        {"mnist-cnn", Shape{1, 28, 28}, 400'000, 430'000},
                        {"mlp", Shape{2000}, 500'000, 700'000}};
  for (const Want& w : wants) {
    auto m = build_model(w.name, w.input, 10);
    m->setup(w.input, 2);
    EXPECT_EQ(m->output_shape(), (Shape{10})) << w.name;
    EXPECT_GE(m->params().size(), w.min_params) << w.name;
    EXPECT_LE(m->params().size(), w.max_params) << w.name;
    EXPECT_NE(m->summary().find("total"), std::string::npos);
  }
}

// On the GPU, Grad Queue's per-cluster weight gradients take the segmented kernel, which splits
// each cluster's rows so that every layer of the CIFAR-10 models fills an H100/H200 (2 blocks per
// SM) from batch 512 on. The emulator's own shapes do not split (one-thread blocks).
TEST(Zoo, SegmentedPerClusterGradientsFillTheGpuOnEveryLayer) {
  for (const char* name : {"paper-cnn", "airbench"}) {
    auto m = build_model(name, Shape{3, 32, 32}, 10);
    m->setup(Shape{3, 32, 32}, 1);
    for (int b : {512, 2048})
      for (int k : {1, 4, 16}) {
        for (int i = 0; i < m->num_layers(); ++i) {
          std::size_t blocks = 0;
          if (auto* conv = dynamic_cast<Conv2d*>(&m->layer(i))) {
            dnn::Conv2dShape s = conv->shape();
            s.n = b;
            blocks = kernels::segmented_blocks_conv2d(s, k);
          } else if (auto* fc = dynamic_cast<Linear*>(&m->layer(i))) {
            blocks = kernels::segmented_blocks_linear(b, fc->in_features(), fc->out_features(), k);
          } else {
            continue;
          }
          if (kGpuDecisions) {
            EXPECT_GE(blocks, 2u * 132) << name << " " << m->layer_name(i) << " b=" << b;
          }
          EXPECT_LE(blocks, 65535u * 1024) << name << " " << m->layer_name(i);
        }
      }
  }
}

TEST(Zoo, UnknownModelListsTheValidNames) {
  try {
    build_model("resnet", Shape{3, 32, 32}, 10);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("paper-cnn"), std::string::npos) << e.what();
  }
  EXPECT_THROW(build_model("paper-cnn", Shape{100}, 10), Error);
}

// Every layer of every zoo model has an ONNX form (onnxruntime runs them in test_export.sh); one
// without is named when asked, so that gq-export can say which layer stops it.
TEST(InferenceGraph, EveryZooLayerDescribesItselfAndOneWithoutIsNamed) {
  for (const std::string name : {"mnist-cnn", "mlp", "paper-cnn", "airbench", "airbench94"}) {
    const bool small = name != "airbench" && name != "airbench94";
    const Shape in = small ? Shape{1, 28, 28} : Shape{3, 32, 32};
    auto m = build_model(name, in, 10);
    m->setup(in, 2);
    InferenceGraph g;
    std::string x = "input";
    for (int i = 0; i < m->num_layers(); ++i) x = m->layer(i).add_to_graph(g, m->layer_name(i), x);
    EXPECT_GT(g.nodes().size(), 3u) << name;
    EXPECT_EQ(g.nodes().back().output, x) << name;
  }
  struct Opaque : Layer {
    std::string kind() const override { return "opaque"; }
    Shape setup(const std::string&, const Shape& in, int, ParamRegistry&) override { return in; }
    void forward(const Context&, const float*, float*) override {}
    void backward(const Context&, const float*, const float*, const float*, float*) override {}
  } opaque;
  InferenceGraph g;
  try {
    opaque.add_to_graph(g, "head.mystery", "input");
    ADD_FAILURE() << "an opaque layer was exported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer head.mystery (opaque) has no ONNX form"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gq::models
