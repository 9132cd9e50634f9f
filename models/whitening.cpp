#include "models/whitening.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/bias.h"
#include "kernels/patch_covariance.h"
#include "runtime/error.h"

namespace gq::models {

PatchCovariance::PatchCovariance(int max_batch, int c, int h, int w, int patch)
    : max_batch_(max_batch), c_(c), h_(h), w_(w), p_(patch), d_(c * patch * patch) {
  GQ_CHECK(max_batch > 0, "PatchCovariance: max_batch must be positive, got {}", max_batch);
  gram_ = DeviceBuffer<float>(static_cast<std::size_t>(max_batch) * d_ * d_);
  host_.resize(gram_.size());
  sum_.assign(static_cast<std::size_t>(d_) * d_, 0.0);
}

void PatchCovariance::add(const float* x, int n, stream_t stream) {
  GQ_CHECK(n > 0 && n <= max_batch_, "PatchCovariance::add: {} images; 1 to {} allowed", n,
           max_batch_);
  kernels::patch_gram(x, n, c_, h_, w_, p_, gram_.data(), stream);
  const std::size_t dd = static_cast<std::size_t>(d_) * d_;
  copy_to_host(host_.data(), gram_.data(), n * dd * sizeof(float), stream);
  for (int i = 0; i < n; ++i)
    for (std::size_t e = 0; e < dd; ++e) sum_[e] += host_[i * dd + e];
  patches_ += static_cast<double>(n) * (h_ - p_ + 1) * (w_ - p_ + 1);
}

std::vector<double> PatchCovariance::covariance() const {
  GQ_CHECK(patches_ > 0, "PatchCovariance: no images added");
  std::vector<double> cov(sum_);
  for (double& v : cov) v /= patches_;
  return cov;
}

namespace {

// One Jacobi rotation in the (p, q) plane that zeroes a[p][q]; v accumulates the rotations.
void jacobi_rotate(std::vector<double>& a, std::vector<double>& v, int d, int p, int q) {
  const auto A = [&](int i, int j) -> double& { return a[static_cast<std::size_t>(i) * d + j]; };
  const auto V = [&](int i, int j) -> double& { return v[static_cast<std::size_t>(i) * d + j]; };
  const double theta = (A(q, q) - A(p, p)) / (2.0 * A(p, q));
  const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
  const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
  for (int k = 0; k < d; ++k) {  // columns p, q of A and V
    const double akp = A(k, p), akq = A(k, q);
    A(k, p) = c * akp - s * akq;
    A(k, q) = s * akp + c * akq;
    const double vkp = V(k, p), vkq = V(k, q);
    V(k, p) = c * vkp - s * vkq;
    V(k, q) = s * vkp + c * vkq;
  }
  for (int k = 0; k < d; ++k) {  // rows p, q of A
    const double apk = A(p, k), aqk = A(q, k);
    A(p, k) = c * apk - s * aqk;
    A(q, k) = s * apk + c * aqk;
  }
  A(p, q) = A(q, p) = 0.0;
}

}  // namespace

SymmetricEigen symmetric_eigen(const std::vector<double>& in, int d) {
  GQ_CHECK(d > 0 && in.size() == static_cast<std::size_t>(d) * d,
           "symmetric_eigen: expected {} x {} values, got {}", d, d, in.size());
  std::vector<double> a(in.size()), v(in.size(), 0.0);
  for (int i = 0; i < d; ++i) {
    v[static_cast<std::size_t>(i) * d + i] = 1.0;
    for (int j = 0; j < d; ++j)
      a[static_cast<std::size_t>(i) * d + j] = 0.5 * (in[i * d + j] + in[j * d + i]);
  }
  double norm = 0;
  for (const double x : a) norm += x * x;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int p = 0; p < d; ++p)
      for (int q = p + 1; q < d; ++q) off += a[p * d + q] * a[p * d + q];
    if (off <= 1e-30 * norm || off == 0.0) break;
    for (int p = 0; p < d; ++p)
      for (int q = p + 1; q < d; ++q)
        if (a[p * d + q] != 0.0) jacobi_rotate(a, v, d, p, q);
  }
  std::vector<int> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int i, int j) { return a[i * d + i] > a[j * d + j]; });
  SymmetricEigen out{std::vector<double>(d), std::vector<double>(static_cast<std::size_t>(d) * d)};
  for (int k = 0; k < d; ++k) {
    const int col = order[k];
    out.values[k] = a[col * d + col];
    int biggest = 0;  // sign convention: the largest-magnitude component positive
    for (int i = 1; i < d; ++i)
      if (std::fabs(v[i * d + col]) > std::fabs(v[biggest * d + col])) biggest = i;
    const double sign = v[biggest * d + col] < 0 ? -1.0 : 1.0;
    for (int i = 0; i < d; ++i) out.vectors[static_cast<std::size_t>(k) * d + i] = sign * v[i * d + col];
  }
  return out;
}

std::vector<float> whitening_filters(const std::vector<double>& covariance, int c, int p,
                                     double eps) {
  const int d = c * p * p;
  GQ_CHECK(eps > 0, "whitening_filters: eps must be positive, got {}", eps);
  const SymmetricEigen e = symmetric_eigen(covariance, d);
  std::vector<float> filters(2 * static_cast<std::size_t>(d) * d);
  for (int k = 0; k < d; ++k) {
    GQ_CHECK(e.values[k] + eps > 0, "whitening_filters: eigenvalue {} + eps is not positive",
             e.values[k]);
    const double scale = 1.0 / std::sqrt(e.values[k] + eps);
    for (int i = 0; i < d; ++i) {
      const auto wv = static_cast<float>(e.vectors[static_cast<std::size_t>(k) * d + i] * scale);
      filters[static_cast<std::size_t>(k) * d + i] = wv;
      filters[static_cast<std::size_t>(k + d) * d + i] = -wv;
    }
  }
  return filters;
}

Shape Whitening::setup(const std::string& name, const Shape& in, int batch, ParamRegistry& params) {
  GQ_CHECK(in.rank == 3, "{}: whitening needs a [C, H, W] input, got {}", name, in.str());
  c_ = static_cast<int>(in[0]);
  const int h = static_cast<int>(in[1]), w = static_cast<int>(in[2]);
  const int out = 2 * c_ * p_ * p_;
  plan_.emplace(dnn::Conv2dShape{batch, c_, h, w, out, p_, p_, 1, 1, 0, 0}, precision());
  params_ = &params;
  const std::int64_t fan_in = static_cast<std::int64_t>(c_) * p_ * p_;
  weight_ = params.add_frozen(name + ".weight", Shape{out, c_, p_, p_}, Init::zeros);
  bias_ = params.add(name + ".bias", Shape{out}, false, Init::uniform_fan_in, fan_in);
  return Shape{out, plan_->shape().out_h(), plan_->shape().out_w()};
}

void Whitening::set_filters(const std::vector<float>& filters, stream_t stream) {
  GQ_CHECK(params_ != nullptr && params_->allocated(), "Whitening::set_filters before allocation");
  GQ_CHECK(filters.size() == params_->info(weight_).numel(),
           "Whitening::set_filters: {} values for a {} weight", filters.size(),
           params_->info(weight_).shape.str());
  copy_to_device(params_->value(weight_), filters.data(), filters.size() * sizeof(float), stream);
}

void Whitening::forward(const Context& ctx, const float* x, float* y) {
  plan_->forward(x, params_->value(weight_), y, ctx.stream);
  const auto& s = plan_->shape();
  kernels::bias_add(y, params_->value(bias_), s.n, s.k, s.out_h() * s.out_w(), ctx.stream);
}

// The weight is frozen: no filter gradient (its registry gradient stays 0).
void Whitening::backward(const Context& ctx, const float* x, const float*, const float* dy,
                         float* dx) {
  (void)x;
  const auto& s = plan_->shape();
  if (ctx.param_grads)
    kernels::bias_grad(dy, params_->grad(bias_), s.n, s.k, s.out_h() * s.out_w(), false,
                       ctx.stream);
  if (dx) plan_->backward_data(dy, params_->value(weight_), dx, ctx.stream);
}

void Whitening::per_cluster_grads(const float*, const float*, const kernels::Clustering&,
                                  MatrixView rows, stream_t stream) {
  params_->grad_in_every_row(weight_, rows, stream);
  params_->grad_in_every_row(bias_, rows, stream);
}

double Whitening::flops_per_sample() const {
  return plan_->shape().flops_forward() / plan_->shape().n;
}

// The frozen filter bank and its trained bias: a p x p convolution without padding.
std::string Whitening::add_to_graph(InferenceGraph& g, const std::string& name,
                                    const std::string& x) const {
  return g.add(name, "Conv", {x, params_->info(weight_).name, params_->info(bias_).name},
               {{"kernel_shape", std::vector<std::int64_t>{p_, p_}}});
}

void Whitening::add_library_choices(LibraryChoices& choices) const {
  LibraryChoices::add(choices.convolutions, plan_->implementation_names());
}

}  // namespace gq::models
