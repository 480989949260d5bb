// The model's input contract on resized inputs (issue 9). Images enter a model as pixels in [0, 1] at
// its input size (runner::model_pixels). A bicubic resize rings at a 0 -> 1 edge, below 0 and above 1,
// so model_pixels must clamp: the attacks clamp to [0, 1] after their eps projection, and around an
// out-of-range input that clamp alone moves pixels further than eps, even at eps = 0. Here: resized
// pixels stay in [0, 1]; every attack stays inside the eps-ball around the resized clean input and
// inside [0, 1]; eps = 0 gives exactly the clean accuracy, attack by attack and through the whole
// evaluation (evaluate_model).
#include <doctest/doctest.h>

#include "attacks/evaluate.h"
#include "data/transforms.h"
#include "experiments/runner/evaluation.h"
#include "experiments/runner/training.h"
#include "nn/layers.h"
#include "tests/attacks/attack_test_util.h"

using namespace tg;
using namespace tg::attacks;
using namespace tg::attacks::testing;

namespace {

constexpr int64_t kRaw = kSide / 2;  // 8x8 images, resized to the model's 16x16

// uint8 [2n, 1, 8, 8]: n vertical 0 -> 255 edges (label 1), then n flat grey images (label 0).
Dataset edges_and_greys(int64_t n) {
  std::vector<uint8_t> px;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 2 * n; ++i) {
    const bool edge = i < n;
    for (int64_t r = 0; r < kRaw; ++r)
      for (int64_t c = 0; c < kRaw; ++c) px.push_back(edge ? (c < kRaw / 2 ? 0 : 255) : 128);
    labels.push_back(edge ? 1 : 0);
  }
  Dataset d;
  d.name = "edges";
  d.images = Tensor::from_vector(px, {2 * n, 1, kRaw, kRaw});
  d.labels = Tensor::from_vector(labels, {2 * n});
  d.num_classes = 4;
  return d;
}

Tensor unclamped_resize(const Tensor& images, int64_t size) {
  return resize(to_float(images), size, size, Interpolation::bicubic);
}

// A linear model on 1 x 16 x 16 pixels that reads the ringing of the resize: with R the pixels where
// an edge's unclamped resize dips below 0 and s = sum_R x, z = (0, -s - d, -50, -50), d = half the
// edge's dip |s|. An edge is class 1 while its ringing stays below 0, class 0 once clamped to [0, 1];
// a grey image is class 0. Classes 2 and 3 only give DLR its third and fourth logits.
std::shared_ptr<nn::Module> ringing_reader() {
  Tensor edge = unclamped_resize(edges_and_greys(1).images.slice_rows(0, 1), kSide).reshape({kDim});
  Tensor ring = lt(edge, Tensor::scalar(0.0)).to(DType::f32);
  const double dip = sum(mul(edge, ring)).item();
  REQUIRE(dip < -0.1);  // the ringing the clamp removes (down to -0.105 a pixel)
  auto linear = std::make_shared<nn::Linear>(kDim, 4);
  linear->weight.data() = concat({Tensor::zeros({1, kDim}), neg(ring).reshape({1, kDim}), Tensor::zeros({2, kDim})}, 0);
  linear->bias.data() = Tensor::from_vector<float>({0.f, static_cast<float>(dip / 2), -50.f, -50.f}, {4});
  return std::make_shared<nn::Sequential>(std::vector<nn::ModulePtr>{std::make_shared<nn::Flatten>(), linear});
}

// The ringing reader on 4 resized edges and 4 greys, as the evaluation feeds them to it.
struct Resized {
  std::shared_ptr<nn::Module> net = ringing_reader();
  ModelFn f = as_model_fn(*net);
  Dataset d = edges_and_greys(4);
  Tensor x = runner::model_pixels(d.images, kSide);
  Resized() { net->eval(); }
};

const std::vector<std::string> kAttacks{"fgsm", "pgd20", "cw", "apgd-ce", "apgd-dlr", "apgd-t", "square"};

}  // namespace

TEST_CASE("input contract: resized pixels stay in [0, 1]") {
  // Edges at the study's sizes: Fashion-MNIST 28 -> 32 (ViT-4/32), CIFAR 32 -> 224 (ViT-S/16).
  for (auto [from, to] : {std::pair<int64_t, int64_t>{28, 32}, {32, 224}, {kRaw, kSide}}) {
    CAPTURE(from);
    CAPTURE(to);
    std::vector<uint8_t> px(static_cast<size_t>(3 * from * from));
    for (size_t i = 0; i < px.size(); ++i) px[i] = (static_cast<int64_t>(i) % from) < from / 2 ? 0 : 255;
    const Tensor images = Tensor::from_vector(px, {1, 3, from, from});
    const Tensor raw = unclamped_resize(images, to);
    // Bicubic rings (measured on this edge: -0.021 at 28 -> 32, -0.109 at 32 -> 224, -0.105 at 8 -> 16).
    CHECK(min(raw).item() < -0.02);
    CHECK(max(raw).item() > 1.02);
    const Tensor x = runner::model_pixels(images, to);
    CHECK(x.shape() == Shape{1, 3, to, to});
    CHECK(host(x) == host(clamp(raw, 0.0, 1.0)));
  }
  // Inputs at the model's size are only converted.
  Dataset d = edges_and_greys(1);
  CHECK(host(runner::model_pixels(d.images, kRaw)) == host(to_float(d.images)));
}

TEST_CASE("input contract: every attack stays in the eps-ball around the resized input and in [0, 1]") {
  const Resized p;
  for (const std::string& name : kAttacks) {
    for (double eps : {0.0, 8.0 / 255}) {
      CAPTURE(name);
      CAPTURE(eps);
      Generator gen(7);
      AttackResult r = make_attack(name, eps, 200, 20).run(p.f, p.x, p.d.labels, gen);
      check_linf_ball(r.x_adv, p.x, eps);
      if (eps == 0) CHECK(host(r.x_adv) == host(p.x));
    }
  }
}

TEST_CASE("input contract: eps = 0 gives exactly the clean accuracy on resized inputs") {
  const Resized p;
  const double clean = accuracy(p.f, p.x, p.d.labels);
  CHECK(clean == 0.5);  // the greys; a clamped edge has no ringing left to read
  for (const std::string& name : kAttacks) {
    CAPTURE(name);
    Generator gen(11);
    CHECK(robust_accuracy(p.f, make_attack(name, 0.0, 200, 20), p.x, p.d.labels, gen) == clean);
  }

  // The same through the evaluation, which resizes the uint8 test set itself.
  runner::EvalConfig c;
  c.eps = 0;
  c.attacks = "pgd20,cw,apgd-ce,apgd-dlr,apgd-t,square";
  c.apgd_iters = 20;
  c.square_queries = 200;
  c.corrupted = "none";
  c.device = "cpu";
  runner::Evaluation e = runner::evaluate_model(*p.net, p.d, {}, c, kSide);
  CHECK(e.clean == 100 * clean);
  CHECK(e.clean_subset == 100 * clean);
  REQUIRE(e.attacks.size() == 6);
  for (const auto& [name, acc] : e.attacks) {
    CAPTURE(name);
    CHECK(acc == e.clean_subset);
  }
  CHECK(e.worst_case == e.clean_subset);
}
