// nn/ forward passes: output shapes of every model family on small inputs, BatchNorm's running
// statistics, dropout and train/eval, and gradient checks (float64) of whole tiny models' input
// gradients — what attacks differentiate.
#include <doctest/doctest.h>

#include "nn/loss.h"
#include "nn/models/factory.h"
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
