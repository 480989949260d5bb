// nn/: parameter counts and names as torchvision/timm have them, state_dict loading and its errors,
// train/eval, dtype and device moves. No forward pass here (see test_models.cpp).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/safetensors.h"

using namespace tg;
using namespace tg::nn;

namespace {

std::vector<std::string> names_of(const StateDict& d) {
  std::vector<std::string> out;
  for (const auto& [n, t] : d) out.push_back(n);
  return out;
}

bool has(const StateDict& d, const std::string& name, const Shape& shape) {
  const Tensor* t = find(d, name);
  return t && t->shape() == shape;
}

}  // namespace

TEST_CASE("nn: parameter counts match torchvision and timm") {
  CHECK(create_model("resnet50_cifar", 10)->num_parameters() == 23520842);
  CHECK(create_model("resnet50", 1000)->num_parameters() == 25557032);
  CHECK(create_model("resnet18", 1000)->num_parameters() == 11689512);
  CHECK(create_model("resnet20", 10)->num_parameters() == 269722);  // He et al. option A: "0.27M"
  CHECK(create_model("vit_small_patch16_224", 1000)->num_parameters() == 22050664);
  // One input channel (Fashion-MNIST) changes only the first conv / patch projection.
  CHECK(create_model("resnet20", 10, 1)->num_parameters() == 269722 - 2 * 16 * 9);
  CHECK(create_model("vit_tiny_patch4_32", 10, 1, 28)->num_parameters() > 0);
}

TEST_CASE("nn: ResNet-50 state_dict has torchvision's names, shapes and order") {
  StateDict d = create_model("resnet50", 1000)->state_dict();
  CHECK(d.size() == 320);  // 161 parameters + 53 BatchNorms x 3 buffers
  std::vector<std::string> n = names_of(d);
  CHECK(n[0] == "conv1.weight");
  CHECK(n[1] == "bn1.weight");
  CHECK(n[3] == "bn1.running_mean");
  CHECK(n[5] == "bn1.num_batches_tracked");
  CHECK(n[6] == "layer1.0.conv1.weight");
  CHECK(n.back() == "fc.bias");
  CHECK(has(d, "conv1.weight", {64, 3, 7, 7}));
  CHECK(has(d, "layer1.0.downsample.0.weight", {256, 64, 1, 1}));
  CHECK(has(d, "layer1.0.downsample.1.running_var", {256}));
  CHECK(has(d, "layer2.0.conv2.weight", {128, 128, 3, 3}));  // v1.5: stride on the 3x3
  CHECK(has(d, "layer4.2.bn3.weight", {2048}));
  CHECK(has(d, "fc.weight", {1000, 2048}));
  CHECK(find(d, "bn1.num_batches_tracked")->dtype() == DType::i64);
  CHECK(find(d, "normalize.mean") == nullptr);  // Normalize's buffers are not persistent
  CHECK(create_model("resnet18", 1000)->state_dict().size() == 122);
}

TEST_CASE("nn: ViT-S/16 state_dict has timm's names and shapes") {
  auto m = create_model("vit_small_patch16_224", 1000);
  StateDict d = m->state_dict();
  CHECK(d.size() == 152);
  std::vector<std::string> n = names_of(d);
  CHECK(n[0] == "cls_token");
  CHECK(n[1] == "pos_embed");
  CHECK(n[2] == "patch_embed.proj.weight");
  CHECK(n.back() == "head.bias");
  CHECK(has(d, "cls_token", {1, 1, 384}));
  CHECK(has(d, "pos_embed", {1, 197, 384}));
  CHECK(has(d, "patch_embed.proj.weight", {384, 3, 16, 16}));
  CHECK(has(d, "blocks.0.norm1.weight", {384}));
  CHECK(has(d, "blocks.0.attn.qkv.weight", {1152, 384}));
  CHECK(has(d, "blocks.0.attn.qkv.bias", {1152}));
  CHECK(has(d, "blocks.11.attn.proj.weight", {384, 384}));
  CHECK(has(d, "blocks.5.mlp.fc1.weight", {1536, 384}));
  CHECK(has(d, "blocks.5.mlp.fc2.weight", {384, 1536}));
  CHECK(has(d, "norm.bias", {384}));
  CHECK(has(d, "head.weight", {1000, 384}));
}

TEST_CASE("nn: initialization is reproducible from the seed and follows torchvision/timm") {
  Generator g1(7), g2(7), g3(8);
  auto a = create_model("resnet20", 10, 3, 0, "", &g1), b = create_model("resnet20", 10, 3, 0, "", &g2),
       c = create_model("resnet20", 10, 3, 0, "", &g3);
  Tensor wa = find(a->state_dict(), "layer2.1.conv1.weight")->clone();
  CHECK(wa.to_vector<float>() == find(b->state_dict(), "layer2.1.conv1.weight")->to_vector<float>());
  CHECK(wa.to_vector<float>() != find(c->state_dict(), "layer2.1.conv1.weight")->to_vector<float>());
  // kaiming_normal_(fan_out, relu): std = sqrt(2 / (32 * 9)).
  const double sd = std::sqrt(var(wa.to(DType::f64)).item());
  CHECK(sd == doctest::Approx(std::sqrt(2.0 / (32 * 9))).epsilon(0.05));
  CHECK(sum(*find(a->state_dict(), "bn1.weight")).item() == 16.0);
  // timm: Linear weights trunc_normal(.02), biases 0; cls_token ~ 1e-6.
  auto v = create_model("vit_tiny_patch4_32", 10);
  StateDict vd = v->state_dict();
  const double qkv_sd = std::sqrt(var(find(vd, "blocks.0.attn.qkv.weight")->to(DType::f64)).item());
  CHECK(qkv_sd == doctest::Approx(0.02).epsilon(0.05));
  CHECK(max(abs(*find(vd, "blocks.0.attn.qkv.bias"))).item() == 0.0);
  CHECK(max(abs(*find(vd, "cls_token"))).item() < 1e-5);
}

TEST_CASE("nn: load_state_dict round-trips and lists every bad name and shape") {
  Generator g1(1), g2(2);
  auto a = create_model("resnet20", 10, 3, 0, "", &g1), b = create_model("resnet20", 10, 3, 0, "", &g2);
  b->load_state_dict(a->state_dict());
  CHECK(find(b->state_dict(), "layer3.2.conv2.weight")->to_vector<float>() ==
        find(a->state_dict(), "layer3.2.conv2.weight")->to_vector<float>());

  StateDict bad;
  for (const auto& [n, t] : a->state_dict()) {
    if (n == "layer1.0.bn1.running_mean") continue;  // missing
    if (n == "fc.weight") {
      bad.emplace_back(n, Tensor::zeros({7, 64}));  // wrong shape
      continue;
    }
    bad.emplace_back(n, t);
  }
  bad.emplace_back("layer9.weight", Tensor::zeros({1}));  // unexpected
  std::string msg;
  try {
    b->load_state_dict(bad);
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("layer1.0.bn1.running_mean") != std::string::npos);
  CHECK(msg.find("layer9.weight") != std::string::npos);
  CHECK(msg.find("fc.weight: checkpoint [7, 64], model [10, 64]") != std::string::npos);

  // Not strict: missing and unexpected are reported, shape mismatches still fail.
  StateDict partial;
  for (const auto& [n, t] : a->state_dict())
    if (n != "fc.bias") partial.emplace_back(n, t);
  partial.emplace_back("extra", Tensor::zeros({1}));
  LoadResult r = b->load_state_dict(partial, false);
  CHECK(r.missing == std::vector<std::string>{"fc.bias"});
  CHECK(r.unexpected == std::vector<std::string>{"extra"});
  CHECK_THROWS_AS(b->load_state_dict(bad, false), Error);
}

TEST_CASE("nn: checkpoint adaptation replaces the head and resizes pos_embed") {
  auto src = create_model("vit_tiny_patch4_32", 100, 3, 32);  // grid 8x8
  auto dst = create_model("vit_tiny_patch4_32", 10, 3, 16);   // grid 4x4, 10 classes
  std::vector<std::string> changed;
  StateDict adapted = adapt_state_dict(*dst, src->state_dict(), &changed);
  CHECK(changed == std::vector<std::string>{"pos_embed", "head.weight", "head.bias"});
  dst->load_state_dict(adapted);
  // Class token kept; a constant grid stays constant under bilinear resizing.
  Tensor pe = Tensor::zeros({1, 1 + 64, 2});
  pe.fill_(3.0);
  pe.data<float>()[0] = -1.0f;
  Tensor r = resize_pos_embed(pe, 4, 4);
  CHECK(r.shape() == Shape{1, 17, 2});
  CHECK(r.to_vector<float>()[0] == -1.0f);
  CHECK(r.to_vector<float>()[5] == doctest::Approx(3.0));
  // 2x2 grid -> 4x4 with align_corners = false, as torch: row of [0, 1] becomes [0, .25, .75, 1].
  Tensor ramp = Tensor::from_vector(std::vector<float>{9, 0, 1, 0, 1}, {1, 5, 1});
  std::vector<float> up = resize_pos_embed(ramp, 4, 4).to_vector<float>();
  CHECK(up[1] == doctest::Approx(0.0));
  CHECK(up[2] == doctest::Approx(0.25));
  CHECK(up[3] == doctest::Approx(0.75));
  CHECK(up[4] == doctest::Approx(1.0));
}

TEST_CASE("nn: an RGB checkpoint fits a gray model: the input filters are summed over colour") {
  for (const char* name : {"resnet20", "vit_tiny_patch4_32"}) {
    CAPTURE(name);
    auto rgb = create_model(name, 10, 3, 32);
    auto gray = create_model(name, 10, 1, 32);
    std::vector<std::string> changed;
    gray->load_state_dict(adapt_state_dict(*gray, rgb->state_dict(), &changed));
    CHECK(changed.size() == 1);
    rgb->eval();
    gray->eval();
    // The gray model on x computes what the RGB model computes on (x, x, x).
    Generator gen(3);
    Tensor x = rand({2, 1, 32, 32}, DType::f32, Device::cpu(), &gen);
    Tensor x3 = concat({x, x, x}, 1);
    NoGradGuard no_grad;
    std::vector<float> a = (*gray)(Variable(x)).data().to_vector<float>(), b = (*rgb)(Variable(x3)).data().to_vector<float>();
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-4));
  }
}

TEST_CASE("nn: train/eval switch recursively; to(dtype) converts floating state only") {
  auto m = create_model("resnet20", 10);
  CHECK(m->is_training());
  m->eval();
  auto block = std::dynamic_pointer_cast<ResNet>(m)->layers[1];
  CHECK_FALSE(block->is_training());
  CHECK_FALSE((*block)[0]->child("bn1")->is_training());
  m->train();
  CHECK((*block)[0]->child("bn1")->is_training());

  auto params = m->parameters();
  m->to(DType::f64);
  CHECK(params[0].dtype() == DType::f64);  // the same parameter objects, converted in place
  StateDict d = m->state_dict();
  CHECK(find(d, "bn1.running_var")->dtype() == DType::f64);
  CHECK(find(d, "bn1.num_batches_tracked")->dtype() == DType::i64);
  CHECK(std::dynamic_pointer_cast<ResNet>(m)->normalize->mean.dtype() == DType::f64);
}

TEST_CASE("nn: containers name children 0, 1, ... and dataset stats are known") {
  auto seq = std::make_shared<Sequential>(
      std::vector<ModulePtr>{std::make_shared<Linear>(4, 3), std::make_shared<ReLU>(), std::make_shared<Linear>(3, 2)});
  std::vector<std::string> n;
  for (auto& [name, p] : seq->named_parameters()) n.push_back(name);
  CHECK(n == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  ModuleList list;
  list.push_back(std::make_shared<LayerNorm>(3));
  CHECK(list.state_dict().size() == 2);
  CHECK_THROWS_AS(list.forward(Variable(Tensor::zeros({1, 3}))), Error);
  CHECK(dataset_stats("fashion_mnist").mean[0] == 0.2860);
  CHECK(dataset_stats("fashion_mnist").std[0] == 0.3530);
  CHECK_THROWS_AS(dataset_stats("svhn"), Error);
  CHECK_THROWS_AS(create_model("resnet51", 10), Error);
}

TEST_CASE("nn: a state_dict survives a safetensors file (num_batches_tracked as I64)") {
  Generator g1(4), g2(5);
  auto a = create_model("resnet20", 10, 1, 0, "", &g1), b = create_model("resnet20", 10, 1, 0, "", &g2);
  const std::string path = "test_nn_state_dict.safetensors";
  save_safetensors(path, a->state_dict());
  SafetensorsFile f = load_safetensors(path);
  std::remove(path.c_str());
  CHECK(f.at("layer1.0.bn1.num_batches_tracked").dtype() == DType::i64);
  b->load_state_dict(f.tensors);
  for (const auto& [n, t] : a->state_dict()) {
    CAPTURE(n);
    CHECK(max(ne(t, *find(b->state_dict(), n))).item() == 0);
  }
}
