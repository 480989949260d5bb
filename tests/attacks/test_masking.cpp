// The study's central diagnostic. A model trained at tau = 100 learns logits about 100 times larger; at
// evaluation (tau = 1) softmax saturates, and for confident points the CE input gradient is EXACTLY
// zero in float32 (softmax(z) - onehot(y) rounds to 0). PGD on CE then sees no gradient and "fails",
// which looks like robustness; scale-invariant or gradient-free attacks (margin-loss PGD, APGD-DLR,
// Square) are not fooled, and the float64 gradient is not zero. We build exactly that situation in
// closed form: the linear pair model with logits scaled by 100, clean margin 4 (400 after scaling), and
// the optimal l_inf attack able to lower the margin by about 8 (800): every point is breakable.
#include <doctest/doctest.h>

#include "attacks/evaluate.h"
#include "nn/layers.h"
#include "tests/attacks/attack_test_util.h"

using namespace tg;
using namespace tg::attacks;
using namespace tg::attacks::testing;

TEST_CASE("attacks: gradient masking signature on a linear model with logits scaled by 100") {
  constexpr int64_t n = 16;
  PairProblem p = pair_problem(n, 4.0, 100.0, 41);
  ModelFn f32 = p.model.fn();
  ModelFn f64 = p.model.to(DType::f64).fn();
  Generator gen(43);
  const double eps = 8.0 / 255;

  // Confident, correctly classified points.
  std::vector<double> margins = logit_margins(f32, p.x, p.y);
  for (double m : margins) CHECK(m == doctest::Approx(400.0).epsilon(1e-3));
  CHECK(accuracy(f32, p.x, p.y) == 1.0);

  // The input gradient of CE at tau = 1 is exactly zero in float32, and not in float64.
  CHECK(zero_gradient_fraction(f32, p.x, p.y) == 1.0);
  CHECK(zero_gradient_fraction(f64, p.x.to(DType::f64), p.y) == 0.0);

  // CE-based gradient attacks see nothing: PGD-20 and APGD-CE leave every point robust.
  CHECK(robust_accuracy(f32, make_attack("pgd20", eps), p.x, p.y, gen) == 1.0);
  CHECK(robust_accuracy(f32, make_attack("apgd-ce", eps), p.x, p.y, gen) == 1.0);
  // The same PGD in float64 is not masked: the gradient direction survives.
  CHECK(robust_accuracy(f64, make_attack("pgd20", eps), p.x.to(DType::f64), p.y, gen) == 0.0);

  // Scale-invariant and gradient-free attacks break every point.
  CHECK(robust_accuracy(f32, make_attack("cw", eps), p.x, p.y, gen) == 0.0);
  CHECK(robust_accuracy(f32, make_attack("apgd-dlr", eps), p.x, p.y, gen) == 0.0);
  CHECK(robust_accuracy(f32, make_attack("square", eps, 2000), p.x, p.y, gen) == 0.0);

  // The paper's whole list: the worst case is 0% although PGD-20 alone reports 100%.
  WorstCaseResult all = worst_case(f32, paper_attacks(eps, 500, 20), p.x, p.y, gen, 16, false);
  REQUIRE(all.per_attack.size() == 6);
  CHECK(all.per_attack[0].first == "pgd20");
  CHECK(all.per_attack[0].second == 1.0);
  CHECK(all.worst == 0.0);

  // The worst case over the list is what counts.
  std::vector<NamedAttack> list{make_attack("pgd20", eps), make_attack("cw", eps)};
  WorstCaseResult w = worst_case(f32, list, p.x, p.y, gen);
  CHECK(w.clean == 1.0);
  REQUIRE(w.per_attack.size() == 2);
  CHECK(w.per_attack[0].second == 1.0);  // after PGD-20
  CHECK(w.per_attack[1].second == 0.0);  // after PGD-20 and C&W
  CHECK(w.worst == 0.0);
}

TEST_CASE("attacks: masking diagnostics convert a Module to float64 and back") {
  PairProblem p = pair_problem(8, 4.0, 100.0, 47);
  // The same scaled linear model as an nn::Module: Flatten then Linear with weights 100 W, bias 100 b.
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(kDim, 4));
  net->load_state_dict({{"1.weight", mul(p.model.w.data(), 100.0)}, {"1.bias", mul(p.model.b.data(), 100.0)}});
  net->eval();
  MaskingDiagnostics d = masking_diagnostics(*net, p.x, p.y);
  CHECK(d.zero_grad_f32 == 1.0);
  CHECK(d.zero_grad_f64 == 0.0);
  REQUIRE(d.margins.size() == 8);
  MarginSummary s = summarize(d.margins);
  CHECK(s.median == doctest::Approx(400.0).epsilon(1e-3));
  CHECK(s.min <= s.p10);
  CHECK(s.p90 <= s.max);
  for (const Variable& v : net->parameters()) CHECK(v.dtype() == DType::f32);
}
