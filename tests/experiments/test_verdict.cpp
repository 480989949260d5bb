// The verdict on PGD-20 (experiments/runner/verdict.h): the rule on hand-made evaluations, every
// outcome and its thresholds; and on a real evaluation of a model built to mask, a logit-scaled copy of
// a linear classifier: scaling the logits by 1e4 cannot change which points an attack can move across
// the decision boundary (the true robustness), but it saturates softmax, so CE's float32 input gradient
// is exactly zero and PGD-20 stalls. The copy must be judged masked, the original not.
#include <doctest/doctest.h>

#include "experiments/runner/verdict.h"
#include "nn/layers.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
using namespace tg::runner;

namespace {

Evaluation made(double pgd20, double worst, double zero_grad_f32, double margin_above_17) {
  Evaluation e;
  e.attacks = {{"pgd20", pgd20}, {"apgd-dlr", worst}};
  e.worst_case = worst;
  e.zero_grad_f32 = zero_grad_f32;
  e.margin_above_17 = margin_above_17;
  return e;
}

// x [N, C, H, W] -> fc(flatten(x)) * scale, the Linear shared between copies.
class ScaledLinear : public nn::Module {
 public:
  ScaledLinear(std::shared_ptr<nn::Linear> linear, double scale)
      : Module("ScaledLinear"), fc(register_module("fc", std::move(linear))), scale(scale) {}
  Variable forward(const Variable& x) override { return mul(fc->forward(flatten(x, 1)), scale); }
  std::shared_ptr<nn::Linear> fc;
  double scale;
};

}  // namespace

TEST_CASE("verdict: the rule, outcome by outcome, at its thresholds") {
  const VerdictRule r;
  // Far below (gap >= 10 points) and saturated, by zero gradients or by margins: masked.
  CHECK(verdict(made(80, 20, 0.6, 0.0)) == "masked");
  CHECK(verdict(made(80, 20, 0.0, 0.9)) == "masked");
  CHECK(verdict(made(30, 30 - r.gap_points, r.zero_grad_f32, 0)) == "masked");
  CHECK(verdict(made(30, 30 - r.gap_points, 0, r.margins_above_17)) == "masked");
  // Far below without saturation: inconclusive.
  CHECK(verdict(made(80, 20, r.zero_grad_f32 - 0.01, r.margins_above_17 - 0.01)) == "inconclusive");
  // PGD-20 agrees with the worst case: robust from the floor up, else not robust; saturation alone
  // does not make a model masked.
  CHECK(verdict(made(45, 40, 0.9, 0.9)) == "robust");
  CHECK(verdict(made(r.robust_floor + 5, r.robust_floor, 0, 0)) == "robust");
  CHECK(verdict(made(r.robust_floor + 5, r.robust_floor - 0.5, 0, 0)) == "not robust");
  CHECK(verdict(made(0, 0, 0, 0)) == "not robust");
  // Nothing to judge.
  Evaluation no_pgd = made(50, 10, 0.9, 0.9);
  no_pgd.attacks = {{"apgd-dlr", 10}};
  CHECK(verdict(no_pgd) == "n/a");
  Evaluation diverged;
  diverged.status = "diverged";
  CHECK(verdict(diverged) == "diverged");
  // The text names every outcome and threshold.
  const std::string text = verdict_rule_text();
  for (const char* word : {"masked", "inconclusive", "robust", "not robust", ">= 10 points", "10%", "50%"})
    CHECK(text.find(word) != std::string::npos);
}

TEST_CASE("verdict: a logit-scaled copy of a linear model is masked, the model itself is not") {
  // 300 random 1x4x4 images labelled by the model itself (clean accuracy 100%), attacked at 16/255:
  // about half of them lie within reach of the decision boundary.
  Generator g(11);
  auto linear = std::make_shared<nn::Linear>(16, 4, true, &g);
  ScaledLinear original(linear, 1.0), scaled(linear, 1e4);
  Dataset test;
  test.images = rand({300, 1, 4, 4}, DType::f32, Device::cpu(), &g);
  test.labels = argmax(original.forward(Variable(test.images)).data(), 1);
  test.num_classes = 4;
  EvalConfig c;
  c.eps = 16;
  c.attacks = "pgd20,apgd-dlr,square";
  c.apgd_iters = 20;
  c.square_queries = 200;
  c.corrupted = "none";
  c.device = "cpu";
  c.batch_size = 100;

  const Evaluation a = evaluate_model(original, test, {}, c), b = evaluate_model(scaled, test, {}, c);
  INFO("original: PGD-20 ", a.attack("pgd20"), "%, worst ", a.worst_case, "%, zero-grad ", a.zero_grad_f32);
  INFO("scaled:   PGD-20 ", b.attack("pgd20"), "%, worst ", b.worst_case, "%, zero-grad ", b.zero_grad_f32);
  CHECK(a.clean == 100);
  CHECK(b.clean == 100);
  // The same true robustness: the scale-invariant attacks find what they found before.
  CHECK(a.worst_case > 20);
  CHECK(a.worst_case < 80);
  CHECK(std::abs(b.worst_case - a.worst_case) < 10);
  // CE's gradient vanishes on the copy, so PGD-20 reports far more robustness than there is.
  CHECK(a.zero_grad_f32 == 0);
  CHECK(b.zero_grad_f32 > 0.9);
  CHECK(b.attack("pgd20") - b.worst_case > 20);
  CHECK(verdict(b) == "masked");
  CHECK(verdict(a) == "robust");
}
