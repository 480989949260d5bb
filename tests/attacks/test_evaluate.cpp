// Robust evaluation: eps = 0 gives the clean accuracy, accuracy never rises with eps, and the worst
// case is at most every attack's accuracy.
#include <doctest/doctest.h>

#include "attacks/evaluate.h"
#include "tests/attacks/attack_test_util.h"

using namespace tg;
using namespace tg::attacks;
using namespace tg::attacks::testing;

namespace {

// A 3-class random linear model on random images, with labels from a noisy teacher, so the clean
// accuracy is strictly between 0 and 1.
struct Problem {
  LinearModel model;
  Tensor x, y;
};
Problem random_problem(uint64_t seed) {
  Generator gen(seed);
  // z = W (x - 0.5): balanced classes, margins of a few tenths.
  Tensor w = mul(random_signs({3, kDim}, gen), 0.3);
  LinearModel m{Variable(w), Variable(mul(sum(w, {1}), -0.5)), 1.0};
  Tensor x = add(uniform({40, 1, kSide, kSide}, -0.05, 0.05, DType::f32, Device::cpu(), &gen), 0.5);
  Tensor y = predict(m.fn(), x);
  // Flip a quarter of the labels.
  Tensor flip = lt(rand({40}, DType::f32, Device::cpu(), &gen), Tensor::scalar(0.25));
  Tensor other = add(y, randint({40}, 1, 3, DType::i64, Device::cpu(), &gen));
  other = where(ge(other, Tensor::scalar(3, DType::i64)), sub(other, Tensor::scalar(3, DType::i64)), other);
  return {m, x, where(flip, other, y)};
}

}  // namespace

TEST_CASE("attacks: eps = 0 gives the clean accuracy and accuracy never rises with eps") {
  Problem p = random_problem(51);
  ModelFn f = p.model.fn();
  const double clean = accuracy(f, p.x, p.y, 16);
  CHECK(clean > 0.5);
  CHECK(clean < 1.0);
  Generator gen(53);
  for (const char* name : {"fgsm", "pgd20", "cw", "apgd-ce", "apgd-dlr", "square"})
    CHECK(robust_accuracy(f, make_attack(name, 0.0, 100, 10), p.x, p.y, gen, 16) == clean);

  for (const char* name : {"pgd20", "apgd-dlr"}) {
    CAPTURE(name);
    auto sweep = eps_sweep(f, [&](double eps) { return make_attack(name, eps, 100, 20); }, default_sweep_eps(), p.x,
                           p.y, gen, 16);
    REQUIRE(sweep.size() == 10);
    CHECK(sweep[0].second == clean);
    for (size_t i = 1; i < sweep.size(); ++i) CHECK(sweep[i].second <= sweep[i - 1].second);
    CHECK(sweep.back().second == 0.0);  // a real attack reaches 0% as eps grows
  }
}

TEST_CASE("attacks: the worst case is robust only where every attack fails") {
  Problem p = random_problem(57);
  ModelFn f = p.model.fn();
  const double eps = 0.5 / 255;
  std::vector<NamedAttack> list{make_attack("fgsm", eps), make_attack("pgd20", eps), make_attack("square", eps, 200)};
  Generator g1(59), g2(59);
  WorstCaseResult cascade = worst_case(f, list, p.x, p.y, g1, 16, true);
  WorstCaseResult each = worst_case(f, list, p.x, p.y, g2, 16, false);
  CHECK(cascade.clean == each.clean);
  for (size_t i = 0; i < list.size(); ++i) {
    CHECK(each.worst <= each.per_attack[i].second);
    if (i > 0) CHECK(cascade.per_attack[i].second <= cascade.per_attack[i - 1].second);
  }
  CHECK(cascade.per_attack.back().second == cascade.worst);
  CHECK(cascade.worst <= cascade.clean);
  CHECK(cascade.robust.numel() == 40);
}
