#include "runtime/train/checkpoint_model.h"

#include <map>

#include <nlohmann/json.hpp>

#include "models/zoo.h"
#include "runtime/error.h"

namespace gq::train {
namespace {

// Uploads the checkpoint's tensor `name` to dst (size values), or says what does not match.
void load_tensor(const std::map<std::string, const CheckpointTensor*>& by_name,
                 const std::string& name, const std::vector<std::int64_t>& shape, float* dst,
                 std::size_t size, const std::string& source) {
  const auto it = by_name.find(name);
  GQ_CHECK(it != by_name.end(), "{}: the model's tensor '{}' is not in the checkpoint", source,
           name);
  const CheckpointTensor& t = *it->second;
  GQ_CHECK(t.size == size && (shape.empty() || t.shape == shape),
           "{}: tensor '{}' has shape {} in the checkpoint, the model's is {}", source, name,
           nlohmann::json(t.shape).dump(), nlohmann::json(shape).dump());
  copy_to_device(dst, t.data, size * sizeof(float));
}

}  // namespace

CheckpointModel::CheckpointModel(const Checkpoint& ck, const std::string& source, int batch)
    : name_(ck.header.value("model", std::string())),
      input_(checkpoint_input(ck, source)),
      tensors_(checkpoint_tensors(ck, source)) {
  Shape in;
  for (std::int64_t d : input_.shape) in.dims[in.rank++] = d;
  model_ = models::build_model(name_, in, static_cast<int>(input_.classes.size()));
  model_->setup(in, batch);
  std::map<std::string, const CheckpointTensor*> by_name;
  for (const CheckpointTensor& t : tensors_) by_name[t.name] = &t;
  models::ParamRegistry& params = model_->params();
  for (int id = 0; id < static_cast<int>(params.infos().size()); ++id) {
    const models::ParamInfo& info = params.info(id);
    const std::vector<std::int64_t> shape(info.shape.dims.begin(),
                                          info.shape.dims.begin() + info.shape.rank);
    load_tensor(by_name, info.name, shape, params.value(id), info.numel(), source);
  }
  const std::vector<models::StateTensor> state = model_->state_tensors();
  for (const models::StateTensor& s : state)
    load_tensor(by_name, s.name, {}, s.data, s.size, source);
  const std::size_t expected = params.infos().size() + state.size();
  GQ_CHECK(tensors_.size() == expected,
           "{}: the checkpoint holds {} tensors, model {} has {}: not this model's checkpoint",
           source, tensors_.size(), name_, expected);
  x_ = DeviceBuffer<float>(static_cast<std::size_t>(batch) * in.numel());
}

std::vector<float> CheckpointModel::logits(const std::vector<float>& samples, int n) {
  const std::size_t per_sample = static_cast<std::size_t>(model_->input_shape().numel());
  GQ_CHECK(n >= 1 && n <= model_->batch() && samples.size() == per_sample * n,
           "CheckpointModel::logits: {} values for {} samples of {} (at most {} samples)",
           samples.size(), n, per_sample, model_->batch());
  std::vector<float> x = samples;
  if (input_.image()) {  // as kernels/augment.h normalises: (v / 255 - mean) / std, in float
    const std::size_t plane = per_sample / input_.mean.size();
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::size_t c = i / plane % input_.mean.size();
      x[i] = (x[i] - input_.mean[c]) / input_.stddev[c];
    }
  }
  x.resize(per_sample * model_->batch(), 0.0f);  // the batch's unused rows: defined values
  x_.upload(x);
  models::Context ctx;
  ctx.training = false;
  const float* out = model_->forward(ctx, x_.data());
  const std::size_t classes = input_.classes.size();
  std::vector<float> logits(static_cast<std::size_t>(n) * classes);
  copy_to_host(logits.data(), out, logits.size() * sizeof(float));
  return logits;
}

}  // namespace gq::train
