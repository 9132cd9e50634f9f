#include "runtime/train/onnx_export.h"

#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "models/inference_graph.h"
#include "runtime/error.h"

namespace gq::train {
namespace {

constexpr int kOpset = 17;

void add_attribute(onnx::NodeProto& node, const models::GraphAttribute& a) {
  onnx::AttributeProto* p = node.add_attribute();
  p->set_name(a.name);
  if (const auto* i = std::get_if<std::int64_t>(&a.value)) {
    p->set_type(onnx::AttributeProto::INT);
    p->set_i(*i);
  } else if (const auto* f = std::get_if<float>(&a.value)) {
    p->set_type(onnx::AttributeProto::FLOAT);
    p->set_f(*f);
  } else {
    p->set_type(onnx::AttributeProto::INTS);
    for (std::int64_t v : std::get<std::vector<std::int64_t>>(a.value)) p->add_ints(v);
  }
}

void add_initializer(onnx::GraphProto& graph, const std::string& name,
                     const std::vector<std::int64_t>& dims, const float* data, std::size_t n) {
  onnx::TensorProto* t = graph.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (std::int64_t d : dims) t->add_dims(d);
  t->set_raw_data(data, n * sizeof(float));  // little-endian, as ONNX's raw_data is
}

void add_constant(onnx::GraphProto& graph, const models::GraphConstant& c) {
  if (!c.floats.empty()) return add_initializer(graph, c.name, c.dims, c.floats.data(), c.floats.size());
  onnx::TensorProto* t = graph.add_initializer();
  t->set_name(c.name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (std::int64_t d : c.dims) t->add_dims(d);
  for (std::int64_t v : c.ints) t->add_int64_data(v);
}

// A float tensor value of shape [N, dims...] with a symbolic batch dimension.
void set_value_info(onnx::ValueInfoProto* v, const std::string& name,
                    const std::vector<std::int64_t>& dims) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("N");
  for (std::int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

// The nodes: normalisation of images, then every layer, then the output named "logits".
models::InferenceGraph layer_graph(CheckpointModel& model) {
  const ModelInput& in = model.input();
  models::InferenceGraph g;
  std::string x = "input";
  if (in.image()) {
    const std::vector<std::int64_t> per_channel{1, in.shape[0], 1, 1};
    x = g.add("input", "Sub", {x, g.constant("input", per_channel, in.mean)});
    x = g.add("input", "Div", {x, g.constant("input", per_channel, in.stddev)});
  }
  models::Sequential& m = model.model();
  for (int i = 0; i < m.num_layers(); ++i) x = m.layer(i).add_to_graph(g, m.layer_name(i), x);
  g.add("output", "Identity", {x});
  return g;
}

void verify(onnx::ModelProto& proto) {
  try {
    onnx::checker::check_model(proto);
    onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1));
  } catch (const std::exception& e) {
    GQ_FAIL("ONNX's checker refused the exported model: {}", e.what());
  }
}

}  // namespace

std::string onnx_bytes(CheckpointModel& model, long step) {
  const models::InferenceGraph g = layer_graph(model);
  onnx::ModelProto proto;
  proto.set_ir_version(8);
  proto.set_producer_name("gradqueue");
  proto.add_opset_import()->set_version(kOpset);
  onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name(model.name());
  std::set<std::string> used;
  for (const models::GraphNode& n : g.nodes()) {
    onnx::NodeProto* node = graph.add_node();
    node->set_op_type(n.op);
    node->set_name(n.output);
    for (const std::string& i : n.inputs) node->add_input(i), used.insert(i);
    node->add_output(&n == &g.nodes().back() ? "logits" : n.output);
    for (const models::GraphAttribute& a : n.attributes) add_attribute(*node, a);
  }
  for (const CheckpointTensor& t : model.tensors())
    if (used.count(t.name)) add_initializer(graph, t.name, t.shape, t.data, t.size);
  for (const models::GraphConstant& c : g.constants()) add_constant(graph, c);
  set_value_info(graph.add_input(), "input", model.input().shape);
  set_value_info(graph.add_output(), "logits",
                 {static_cast<std::int64_t>(model.input().classes.size())});
  const std::map<std::string, std::string> metadata{
      {"model", model.name()},
      {"step", std::to_string(step)},
      {"classes", nlohmann::json(model.input().classes).dump()},
      {"input", model.input().image() ? "pixel / 255, NCHW, normalised inside the graph"
                                      : "features"}};
  for (const auto& [key, value] : metadata) {
    onnx::StringStringEntryProto* p = proto.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
  verify(proto);
  return proto.SerializeAsString();
}

}  // namespace gq::train
