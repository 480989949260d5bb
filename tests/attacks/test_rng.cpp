// The attacks' random numbers (attacks/rng.h): per sample, row r of a draw depends only on the seed,
// sample ids[r] and how many draws that sample made before, so every attack gives a point the same
// adversarial example in any batch or shard (what sharded evaluation needs, issue 14); a Generator
// still draws as tg::uniform does.
#include <doctest/doctest.h>

#include "attack_test_util.h"
#include "attacks/evaluate.h"

using namespace tg;
using namespace tg::attacks;
using namespace tg::attacks::testing;

namespace {

// The model a row at a time, so that its numbers cannot depend on the batch (a matrix product's blocking
// may change the last bit with the batch size); here only the random numbers may.
ModelFn row_by_row(const ModelFn& f) {
  return [f](const Variable& x) {
    std::vector<Variable> rows;
    for (int64_t i = 0; i < x.data().size(0); ++i) rows.push_back(f(slice(x, 0, i, i + 1)));
    return concat(rows, 0);
  };
}

// Rows idx of t, as a flat float vector.
std::vector<float> rows_of(const Tensor& t, const std::vector<int64_t>& idx) {
  return host(index_select(t, 0, index_tensor(idx, Device::cpu())));
}

}  // namespace

TEST_CASE("AttackRng: per sample, a row depends on its sample and its draw count, not on the other rows") {
  // 15 elements a row (not a multiple of 4): rows start at a Philox block all the same.
  for (const char* kind : {"uniform", "normal", "randint"}) {
    CAPTURE(kind);
    auto draw = [&](const AttackRng& rng, int64_t rows) {
      const Shape shape = {rows, 3, 5};
      if (std::string(kind) == "uniform") return rng.uniform(shape, -1, 1, DType::f32, Device::cpu());
      if (std::string(kind) == "normal") return rng.normal(shape, DType::f64, Device::cpu());
      return rng.randint(shape, 0, 1000, Device::cpu());
    };
    const AttackRng all = AttackRng::per_sample(7, 0, 8);
    const Tensor first = draw(all, 8), second = draw(all, 8);
    CHECK(host(first) != host(second));  // each draw has its own numbers

    const AttackRng some = AttackRng::per_sample(7, {5, 2});  // other rows, other order
    CHECK(host(draw(some, 2)) == rows_of(first, {5, 2}));
    CHECK(host(draw(some, 2)) == rows_of(second, {5, 2}));
    CHECK(host(draw(AttackRng::per_sample(8, 0, 8), 8)) != host(first));  // another seed

    // A view's draw counts for its samples in the whole: rows 1 and 3 are one draw ahead afterwards.
    const AttackRng whole = AttackRng::per_sample(7, 0, 8);
    CHECK(host(draw(whole.rows({1, 3}), 2)) == rows_of(first, {1, 3}));
    const Tensor mixed = draw(whole, 8);
    for (int64_t r = 0; r < 8; ++r) {
      CAPTURE(r);
      CHECK(rows_of(mixed, {r}) == rows_of(r == 1 || r == 3 ? second : first, {r}));
    }
  }
  CHECK_THROWS_WITH_AS(AttackRng::per_sample(1, 0, 4).uniform({3, 2}, 0, 1, DType::f32, Device::cpu()),
                       doctest::Contains("for 4 samples"), Error);
}

TEST_CASE("AttackRng: from a Generator, the draws are tg::uniform's, in order, for any rows") {
  Generator a(11), b(11);
  const AttackRng rng(a);
  const Tensor x = rng.rows({0, 2}).uniform({4, 6}, -2, 2, DType::f32, Device::cpu());
  const Tensor y = rng.normal({3}, DType::f32, Device::cpu());
  CHECK(host(x) == host(uniform({4, 6}, -2, 2, DType::f32, Device::cpu(), &b)));
  CHECK(host(y) == host(randn({3}, DType::f32, Device::cpu(), &b)));
  CHECK(a.offset() == b.offset());
}

TEST_CASE("attacks: keyed by sample, a point's adversarial example does not depend on its batch") {
  // Margins small enough that some attacks succeed and others not; 11 points split 5 + 6.
  PairProblem p = pair_problem(11, 0.4, 1.0, 21);
  const ModelFn f = row_by_row(p.model.fn());
  std::vector<NamedAttack> list;
  for (const std::string& name : attack_names()) list.push_back(make_attack(name, 8.0 / 255, 40, 6));
  list.push_back(worst_case_attack(paper_attacks(8.0 / 255, 40, 6)));
  PgdOptions l2 = pgd20_options(0.5);  // Gaussian starts and random targets
  l2.norm = Norm::l2, l2.target = TargetMode::random, l2.restarts = 2;
  list.push_back({"pgd-l2-random-target", [l2](const ModelFn& m, const Tensor& x, const Tensor& y, const AttackRng& r) {
                    return pgd(m, x, y, l2, r);
                  }});
  const int64_t n = p.x.size(0), cut = 5;
  for (const NamedAttack& a : list) {
    CAPTURE(a.name);
    const AttackResult whole = a.run(f, p.x, p.y, AttackRng::per_sample(3, 0, n));
    const AttackResult head = a.run(f, p.x.slice_rows(0, cut), p.y.slice_rows(0, cut), AttackRng::per_sample(3, 0, cut));
    const AttackResult tail =
        a.run(f, p.x.slice_rows(cut, n), p.y.slice_rows(cut, n), AttackRng::per_sample(3, cut, n - cut));
    CHECK(host(concat({head.x_adv, tail.x_adv}, 0)) == host(whole.x_adv));
    CHECK(host(concat({head.fooled, tail.fooled}, 0)) == host(whole.fooled));
  }
  // The evaluation's path: robust masks in batches of 4 and of 11 (each attacking its clean-correct
  // points only), the same.
  for (const NamedAttack& a : list) {
    CAPTURE(a.name);
    CHECK(host(robust_mask(f, a, p.x, p.y, AttackRng::per_sample(5, 0, n), 4)) ==
          host(robust_mask(f, a, p.x, p.y, AttackRng::per_sample(5, 0, n), 11)));
  }
  // What the keys fix: a rank that attacks the tail with its own Generator (seeded as every rank is) gives
  // its points other random starts than the single process does.
  Generator g1(3), g2(3);
  const AttackResult whole = list[1].run(f, p.x, p.y, g1);
  const AttackResult tail = list[1].run(f, p.x.slice_rows(cut, n), p.y.slice_rows(cut, n), g2);
  CHECK(host(tail.x_adv) != host(whole.x_adv.slice_rows(cut, n)));
}
