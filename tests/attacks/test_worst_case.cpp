// The worst case is per sample: a point counts as robust only if every attack fails on it. Two attacks
// that break disjoint halves of the inputs show 50% each, and the worst case must be 0% (the better of
// the two per-attack numbers, 50%, is the classic mistake). Exact by construction: each attack moves
// the points of one label to the closed-form optimum of the linear pair problem at eps = 1, which no
// point survives, and leaves the other label's points where they are.
#include <doctest/doctest.h>

#include "attacks/evaluate.h"
#include "tests/attacks/attack_test_util.h"

using namespace tg;
using namespace tg::attacks;
using namespace tg::attacks::testing;

namespace {

NamedAttack breaks_label(const LinearModel& m, int64_t label) {
  return {"breaks-label-" + std::to_string(label),
          [m, label](const ModelFn& f, const Tensor& x, const Tensor& y, const AttackRng&) {
            const Tensor other = sub(Tensor::scalar(1, DType::i64), y);  // labels are 0 and 1
            const Tensor broken = optimal_linf_attack(m, x, y, other, 1.0);
            const Tensor mine = eq(y, Tensor::scalar(label, DType::i64));
            const Tensor x_adv = where(per_example(mine, x), broken, x);
            return AttackResult{x_adv, ne(predict(f, x_adv), y)};
          }};
}

}  // namespace

TEST_CASE("worst case: two attacks that break disjoint halves leave 0% while each shows 50%") {
  PairProblem p = pair_problem(8, 4.0, 1.0, 61);  // labels 0, 1, 0, 1, ...; all classified correctly
  const ModelFn f = p.model.fn();
  const std::vector<NamedAttack> list{breaks_label(p.model, 0), breaks_label(p.model, 1)};
  for (const NamedAttack& a : list) {
    CAPTURE(a.name);
    Generator gen(1);
    CHECK(robust_accuracy(f, a, p.x, p.y, gen, 3) == 0.5);  // batches of 3: halves cut across batches
  }

  for (bool cascade : {false, true}) {
    CAPTURE(cascade);  // cascade: the second attack runs only on the first one's survivors
    Generator gen(1);
    WorstCaseResult r = worst_case(f, list, p.x, p.y, gen, 3, cascade);
    CHECK(r.clean == 1.0);
    REQUIRE(r.per_attack.size() == 2);
    CHECK(r.per_attack[0].second == 0.5);
    CHECK(r.per_attack[1].second == (cascade ? 0.0 : 0.5));
    CHECK(r.worst == 0.0);
    CHECK(count(r.robust) == 0);
  }
  {  // one attack alone: the worst case is its own accuracy, point for point
    Generator gen(1);
    WorstCaseResult r = worst_case(f, {list[1]}, p.x, p.y, gen, 3, /*cascade=*/false);
    CHECK(r.worst == 0.5);
    std::vector<uint8_t> robust = r.robust.to_vector<uint8_t>();
    for (size_t i = 0; i < robust.size(); ++i) CHECK(robust[i] == (i % 2 == 0));  // label 0 survives
  }
}

TEST_CASE("worst case as one attack: each part attacks what the ones before did not fool") {
  PairProblem p = pair_problem(8, 4.0, 1.0, 61);
  const ModelFn f = p.model.fn();
  const NamedAttack both = worst_case_attack({breaks_label(p.model, 0), breaks_label(p.model, 1)});
  CHECK(both.name == "worst");
  Generator gen(1);
  const AttackResult r = both.run(f, p.x, p.y, gen);
  CHECK(count(r.fooled) == 8);  // each half broken by its own part
  CHECK(count(ne(predict(f, r.x_adv), p.y)) == 8);
  Generator again(1);
  CHECK(robust_accuracy(f, both, p.x, p.y, again, 3) == 0.0);
  // One part alone: only its half is fooled, and the other half keeps its clean pixels.
  Generator one(1);
  const AttackResult half = worst_case_attack({breaks_label(p.model, 1)}).run(f, p.x, p.y, one);
  const std::vector<uint8_t> fooled = half.fooled.to_vector<uint8_t>();
  for (size_t i = 0; i < fooled.size(); ++i) CHECK(fooled[i] == (i % 2 == 1));
  CHECK(count(eq(half.x_adv, p.x)) >= 4 * p.x.numel() / 8);
}
