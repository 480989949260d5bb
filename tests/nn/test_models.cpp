// nn/ forward passes: output shapes of every model family on small inputs, BatchNorm's running
// statistics, dropout and train/eval, and gradient checks (float64) of whole tiny models' input
// gradients — what attacks differentiate; the model registry and the input contract it records.
#include <doctest/doctest.h>

#include <set>

#include "nn/loss.h"
#include "nn/models/factory.h"
#include "nn/models/registry.h"
#include "support/gradcheck.h"

using namespace tg;
using namespace tg::nn;
using namespace tg::testing;

namespace {

Variable pixels(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return Variable(rand(shape, DType::f32, Device::cpu(), &g));
}

}  // namespace

TEST_CASE("models: forward shapes on small inputs") {
  struct Case {
    const char* name;
    int64_t classes, channels, image, batch;
  };
  for (Case c : {Case{"resnet20", 10, 1, 28, 2}, Case{"resnet18_cifar", 10, 3, 32, 2}, Case{"resnet50_cifar", 10, 3, 32, 2},
                 Case{"resnet18", 7, 3, 64, 1}, Case{"vit_tiny_patch4_32", 10, 3, 32, 2},
                 Case{"vit_tiny_patch4_32", 10, 1, 28, 2}}) {
    CAPTURE(c.name);
    auto m = create_model(c.name, c.classes, c.channels, c.image);
    Variable y = m->forward(pixels({c.batch, c.channels, c.image, c.image}, 3));
    CHECK(y.shape() == Shape{c.batch, c.classes});
    CHECK(std::isfinite(sum(y.data()).item()));
  }
}

TEST_CASE("models: wrong input sizes fail with a clear message") {
  auto vit = create_model("vit_tiny_patch4_32", 10, 3, 32);
  CHECK_THROWS_WITH_AS(vit->forward(pixels({1, 3, 28, 28}, 1)), doctest::Contains("built for 32x32"), Error);
  auto r = create_model("resnet20", 10, 3);
  CHECK_THROWS_AS(r->forward(pixels({1, 1, 28, 28}, 1)), Error);
}

TEST_CASE("models: BatchNorm tracks running statistics in training only") {
  auto m = create_model("resnet20", 10, 1, 0, "fashion_mnist");
  auto bn = std::dynamic_pointer_cast<ResNet>(m)->bn1;
  Variable x = pixels({4, 1, 12, 12}, 5);
  m->forward(x);
  m->forward(x);
  CHECK(bn->num_batches_tracked.item() == 2);
  std::vector<float> rm = bn->running_mean.to_vector<float>();
  CHECK(rm != std::vector<float>(16, 0.0f));
  m->eval();
  Variable y1 = m->forward(x), y2 = m->forward(x);
  CHECK(bn->num_batches_tracked.item() == 2);
  CHECK(bn->running_mean.to_vector<float>() == rm);
  CHECK(y1.data().to_vector<float>() == y2.data().to_vector<float>());
}

TEST_CASE("models: the loss reaches every parameter") {
  auto m = create_model("vit_tiny_patch4_32", 5, 1, 8);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{1, 4}, {2});
  Variable loss = tempered_cross_entropy(m->forward(pixels({2, 1, 8, 8}, 9)), labels, 50.0, 0.1);
  loss.backward();
  for (auto& [name, p] : m->named_parameters()) {
    CAPTURE(name);
    CHECK(p.grad().defined());
  }
  m->zero_grad();
  CHECK_FALSE(m->parameters()[0].grad().defined());
}

TEST_CASE("models: dropout is active in training only") {
  Dropout d(0.5);
  Variable x(Tensor::ones({1000}));
  const double train_sum = sum(d.forward(x).data()).item();
  CHECK(train_sum != 1000.0);
  d.eval();
  CHECK(sum(d.forward(x).data()).item() == 1000.0);
}

TEST_CASE("gradcheck: input gradient through a tiny ResNet (both shortcuts, train and eval)") {
  for (Shortcut s : {Shortcut::zero_pad, Shortcut::projection}) {
    ResNetConfig c;
    c.blocks = {1, 1};
    c.widths = {4, 8};
    c.stem = ResNetStem::cifar;
    c.shortcut = s;
    c.num_classes = 3;
    c.in_channels = 2;
    c.stats = {{0.4, 0.5}, {0.2, 0.3}};
    Generator g(11);
    ResNet model(c, &g);
    model.to(DType::f64);
    Tensor x = rand64({2, 2, 6, 6}, 21, 0.0, 1.0);
    auto f = [&](const std::vector<Variable>& v) { return model.forward(v[0]); };
    gradcheck(s == Shortcut::zero_pad ? "model: resnet (option A), train" : "model: resnet (option B), train", f, {x});
    model.eval();
    gradcheck(s == Shortcut::zero_pad ? "model: resnet (option A), eval" : "model: resnet (option B), eval", f, {x});
  }
}

TEST_CASE("gradcheck: input gradient through a tiny ViT and the tempered loss") {
  ViTConfig c;
  c.image_size = 4;
  c.patch = 2;
  c.in_channels = 2;
  c.num_classes = 3;
  c.dim = 8;
  c.depth = 2;
  c.heads = 2;
  c.mlp_hidden = 16;
  Generator g(12);
  VisionTransformer model(c, &g);
  model.to(DType::f64);
  // Larger position/class embeddings than timm's init so attention is not uniform.
  model.pos_embed.data().copy_(rand64({1, 5, 8}, 31));
  Tensor x = rand64({2, 2, 4, 4}, 22, 0.0, 1.0);
  gradcheck("model: vit", [&](const std::vector<Variable>& v) { return model.forward(v[0]); }, {x});
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 2}, {2});
  gradcheck("model: vit + tempered CE (tau 5)",
            [&](const std::vector<Variable>& v) { return tempered_cross_entropy(model.forward(v[0]), labels, 5.0); }, {x});
}

namespace {

std::vector<float> buffer(const Module& m, const std::string& name) {
  for (const auto& [n, t] : m.named_buffers())
    if (n == name) return t.to_vector<float>();
  FAIL("no buffer ", name);
  return {};
}

}  // namespace

TEST_CASE("registry: every model once, with its input size and its published checkpoints' normalization") {
  std::set<std::string> names;
  for (const ModelSpec& m : model_registry()) {
    CAPTURE(m.name);
    CHECK(names.insert(m.name).second);
    CHECK(!m.description.empty());
    CHECK(m.build);
    CHECK(model_list().find(m.name) != std::string::npos);
  }
  CHECK(model_spec("vit_small_patch16_224").input_size == 224);
  CHECK(model_spec("vit_tiny_patch4_32").input_size == 32);
  CHECK(model_spec("resnet20").input_size == 0);
  CHECK(model_spec("resnet50_cifar").input_size == 0);
  // timm's augreg ImageNet-21k ViTs were trained on (x - 0.5) / 0.5; torchvision's ResNets on ImageNet's.
  for (const char* vit : {"vit_small_patch16_224", "vit_tiny_patch16_224"}) {
    REQUIRE(model_spec(vit).checkpoint_stats);
    CHECK(model_spec(vit).checkpoint_stats->mean == std::vector<double>{0.5});
    CHECK(model_spec(vit).checkpoint_stats->std == std::vector<double>{0.5});
  }
  REQUIRE(model_spec("resnet50").checkpoint_stats);
  CHECK(model_spec("resnet50").checkpoint_stats->mean == dataset_stats("imagenet").mean);
  CHECK(model_spec("resnet50").checkpoint_stats->std == dataset_stats("imagenet").std);
  CHECK_FALSE(model_spec("resnet20").checkpoint_stats);
  CHECK_FALSE(model_spec("vit_tiny_patch4_32").checkpoint_stats);
  CHECK_THROWS_WITH_AS(model_spec("resnet51"), doctest::Contains("known: resnet20 | "), Error);
}

TEST_CASE("registry: create_model builds the contract it is given") {
  ModelArgs a;
  a.in_channels = 1;
  a.input = {16, {{0.25}, {0.5}}};
  auto vit = create_model("vit_tiny_patch4_32", a);
  CHECK(buffer(*vit, "normalize.mean") == std::vector<float>{0.25f});
  CHECK(buffer(*vit, "normalize.std") == std::vector<float>{0.5f});
  CHECK(vit->forward(pixels({1, 1, 16, 16}, 1)).shape() == Shape{1, 10});  // built for 16, not its own 32
  a.input.input_size = 0;  // the registry's size
  CHECK_THROWS_WITH_AS(create_model("vit_tiny_patch4_32", a)->forward(pixels({1, 1, 16, 16}, 1)),
                       doctest::Contains("built for 32x32"), Error);
}

TEST_CASE("registry: the input contract round-trips through safetensors metadata") {
  const InputContract c{224, dataset_stats("cifar10")};
  const auto meta = contract_metadata(c);
  CHECK(meta.at("input_size") == "224");
  CHECK(meta.at("mean") == "0.4914,0.4822,0.4465");
  const auto back = contract_from_metadata(meta, "m.safetensors");
  REQUIRE(back);
  CHECK(back->input_size == 224);
  CHECK(back->stats.mean == c.stats.mean);  // exactly: the shortest text that reads back the same
  CHECK(back->stats.std == c.stats.std);
  CHECK_FALSE(contract_from_metadata({{"epoch", "3"}}, "timm.safetensors"));  // records none
  CHECK_THROWS_WITH_AS(contract_from_metadata({{"mean", "0.5"}, {"std", "0.5"}}, "a.safetensors"),
                       doctest::Contains("a.safetensors"), Error);
  CHECK_THROWS_WITH_AS(contract_from_metadata({{"input_size", "0"}, {"mean", "0.5,x"}, {"std", "0.5"}}, "b.safetensors"),
                       doctest::Contains("metadata 'mean'"), Error);
  CHECK_THROWS_WITH_AS(contract_from_metadata({{"input_size", "0"}, {"mean", "0.5,0.5"}, {"std", "0.5"}}, "c.safetensors"),
                       doctest::Contains("2 means and 1 stds"), Error);
}
