// Attacks on closed-form models: PGD and APGD find the optimal l_inf attack on a linear classifier;
// results stay in the eps-ball and [0, 1]; targeted attacks hit their target; Square needs no
// gradients; attacks leave parameters and their gradients alone; an AT step lowers the adversarial loss.
#include <doctest/doctest.h>

#include <stdexcept>

#include "attacks/adversarial_training.h"
#include "attacks/apgd.h"
#include "attacks/pgd.h"
#include "attacks/square.h"
#include "autograd/node.h"
#include "nn/layers.h"
#include "nn/models/factory.h"
#include "tests/attacks/attack_test_util.h"

using namespace tg;
using namespace tg::attacks;
using namespace tg::attacks::testing;

namespace {

constexpr double kEps = 8.0 / 255;

// The margin (unscaled) an attack reaches against the other class of the pair, and the optimum.
void check_reaches_optimum(const PairProblem& p, const Tensor& x_adv, double tol) {
  Tensor t = sub(Tensor::ones(p.y.shape(), DType::i64), p.y);  // the other class of the pair
  std::vector<double> reached = pair_margins(p.model, x_adv, p.y, t);
  std::vector<double> best = pair_margins(p.model, optimal_linf_attack(p.model, p.x, p.y, t, kEps), p.y, t);
  std::vector<double> clean = pair_margins(p.model, p.x, p.y, t);
  for (size_t i = 0; i < best.size(); ++i) {
    CHECK(best[i] < clean[i] - 5.0);  // the attack has work to do
    CHECK(std::abs(reached[i] - best[i]) < tol);
  }
}

// Logits through a node whose backward throws: a model that cannot be differentiated.
struct ThrowingBackward : Node {
  const char* name() const override { return "throwing_backward"; }
  std::vector<Tensor> backward(const Tensor&) override { throw std::runtime_error("this model has no gradients"); }
};
ModelFn without_gradients(ModelFn f) {
  return [f](const Variable& x) {
    Variable z = f(x);
    return attach(std::make_shared<ThrowingBackward>(), {z}, z.data());
  };
}

}  // namespace

TEST_CASE("attacks: PGD and APGD reach the closed-form optimal l_inf margin on a linear model") {
  // Clean margin 12; the best l_inf attack lowers it by eps |w_y - w_t|_1 (about 8): not breakable,
  // so the reached margin is the attack's optimum, not just "some adversarial point".
  PairProblem p = pair_problem(8, 12.0, 1.0, 1);
  ModelFn f = p.model.fn();
  Generator gen(7);
  SUBCASE("PGD-20, margin loss") {
    PgdOptions o = pgd20_options();
    o.loss = PgdLoss::margin;
    check_reaches_optimum(p, pgd(f, p.x, p.y, o, gen).x_adv, 1e-3);
  }
  SUBCASE("PGD-20, cross-entropy") { check_reaches_optimum(p, pgd(f, p.x, p.y, pgd20_options(), gen).x_adv, 1e-3); }
  SUBCASE("targeted PGD, margin loss, given target") {
    PgdOptions o = pgd20_options();
    o.loss = PgdLoss::margin;
    o.target = TargetMode::given;
    o.targets = sub(Tensor::ones(p.y.shape(), DType::i64), p.y);
    check_reaches_optimum(p, pgd(f, p.x, p.y, o, gen).x_adv, 1e-3);
  }
  SUBCASE("APGD-DLR") {
    ApgdOptions o;
    o.loss = ApgdLoss::dlr;
    check_reaches_optimum(p, apgd(f, p.x, p.y, o, gen).x_adv, 1e-3);
  }
  SUBCASE("APGD-CE") { check_reaches_optimum(p, apgd(f, p.x, p.y, ApgdOptions{}, gen).x_adv, 1e-3); }
}

TEST_CASE("attacks: every attack breaks breakable points and stays in the eps-ball and [0, 1]") {
  PairProblem p = pair_problem(8, 4.0, 1.0, 2);  // optimum about 4 - 8 < 0
  ModelFn f = p.model.fn();
  Generator gen(3);
  auto check = [&](const AttackResult& r) {
    check_linf_ball(r.x_adv, p.x, kEps);
    CHECK(count(r.fooled) == 8);
    CHECK(count(ne(predict(f, r.x_adv), p.y)) == 8);
  };
  SUBCASE("PGD-20") { check(pgd(f, p.x, p.y, pgd20_options(), gen)); }
  SUBCASE("C&W (margin PGD-20, kappa 0)") { check(pgd(f, p.x, p.y, cw_options(), gen)); }
  SUBCASE("APGD-CE") { check(apgd(f, p.x, p.y, ApgdOptions{}, gen)); }
  SUBCASE("APGD-DLR") {
    ApgdOptions o;
    o.loss = ApgdLoss::dlr;
    check(apgd(f, p.x, p.y, o, gen));
  }
  SUBCASE("Square") {
    SquareOptions o;
    o.n_queries = 2000;
    check(square_attack(f, p.x, p.y, o, gen));
  }
  SUBCASE("FGSM") {
    // One signed step of eps is the optimum itself for a linear model.
    AttackResult r = fgsm(f, p.x, p.y, kEps);
    check(r);
  }
  SUBCASE("restarts keep any success") {
    PgdOptions o = pgd20_options();
    o.restarts = 3;
    check(pgd(f, p.x, p.y, o, gen));
  }
}

TEST_CASE("attacks: l2 PGD stays in the l2 ball and breaks points") {
  PairProblem p = pair_problem(6, 4.0, 1.0, 4);  // eps |w_y - w_t|_2 is about 0.5 * 22.6 > 4
  PgdOptions o;
  o.norm = Norm::l2;
  o.eps = 0.5;
  o.step_size = 0.1;
  o.steps = 20;
  o.loss = PgdLoss::margin;
  Generator gen(5);
  AttackResult r = pgd(p.model.fn(), p.x, p.y, o, gen);
  std::vector<float> n = host(l2_norms(sub(r.x_adv, p.x)));
  for (float v : n) CHECK(v <= 0.5 + 1e-5);
  check_linf_ball(r.x_adv, p.x, 1.0);  // [0, 1]
  CHECK(count(r.fooled) == 6);
}

TEST_CASE("attacks: targeted attacks hit their target") {
  // Three real classes, points near the decision boundaries (x = 0.5 + small noise).
  Generator gen(11);
  LinearModel m = centered_model(4, gen);
  Tensor x = add(uniform({12, 1, kSide, kSide}, -0.02, 0.02, DType::f32, Device::cpu(), &gen), 0.5);
  ModelFn f = m.fn();
  Tensor y = predict(f, x);
  for (TargetMode mode : {TargetMode::random, TargetMode::least_likely, TargetMode::given}) {
    for (PgdLoss loss : {PgdLoss::ce, PgdLoss::margin}) {
      CAPTURE(static_cast<int>(mode));
      CAPTURE(static_cast<int>(loss));
      PgdOptions o = pgd20_options();
      o.loss = loss;
      o.target = mode;
      if (mode == TargetMode::given) o.targets = choose_targets(f, x, y, TargetMode::random, gen);
      Generator g1(99), g2(99);
      Tensor t = choose_targets(f, x, y, mode, g1, o.targets);
      CHECK(count(eq(t, y)) == 0);
      AttackResult r = pgd(f, x, y, o, g2);
      check_linf_ball(r.x_adv, x, kEps);
      CHECK(count(eq(predict(f, r.x_adv), t)) == 12);
      CHECK(count(r.fooled) == 12);
    }
  }
}

TEST_CASE("attacks: APGD checkpoints and the Square schedule follow the papers") {
  CHECK(apgd_checkpoints(100) == std::vector<int>{22, 41, 57, 70, 80, 87, 93, 99});
  CHECK(square_p_selection(0.8, 0, 5000) == 0.8);
  CHECK(square_p_selection(0.8, 5, 5000) == 0.8);        // it 10 of 10000
  CHECK(square_p_selection(0.8, 6, 5000) == 0.4);        // it 12 of 10000
  CHECK(square_p_selection(0.8, 100, 5000) == 0.2);      // it 200
  CHECK(square_p_selection(0.8, 101, 5000) == 0.1);      // it 202
  CHECK(square_p_selection(0.8, 4999, 5000) == 0.8 / 512);
}

TEST_CASE("attacks: APGD-T attacks the top-9 targets and breaks points") {
  Generator gen(13);
  LinearModel m = centered_model(10, gen);
  Tensor x = add(uniform({8, 1, kSide, kSide}, -0.02, 0.02, DType::f32, Device::cpu(), &gen), 0.5);
  ModelFn f = m.fn();
  Tensor y = predict(f, x);
  ApgdOptions o;
  o.loss = ApgdLoss::targeted_dlr;
  o.n_iter = 20;
  AttackResult r = apgd(f, x, y, o, gen);
  check_linf_ball(r.x_adv, x, kEps);
  CHECK(count(r.fooled) == 8);
  CHECK(count(ne(predict(f, r.x_adv), y)) == 8);
}

TEST_CASE("attacks: Square runs on a model whose backward throws, and lowers accuracy") {
  PairProblem p = pair_problem(8, 4.0, 1.0, 6);
  ModelFn f = without_gradients(p.model.fn());
  Generator gen(17);
  // The model really has no gradients: a gradient attack fails loudly.
  CHECK_THROWS_AS(pgd(f, p.x, p.y, pgd20_options(), gen), std::runtime_error);
  CHECK(count(eq(predict(f, p.x), p.y)) == 8);
  SquareOptions o;
  o.n_queries = 2000;
  AttackResult r = square_attack(f, p.x, p.y, o, gen);
  check_linf_ball(r.x_adv, p.x, kEps);
  CHECK(count(eq(predict(f, r.x_adv), p.y)) == 0);
}

TEST_CASE("attacks: parameters and their gradients are left untouched") {
  Generator gen(19);
  LinearModel m{Variable(random_signs({4, kDim}, gen), true), Variable(Tensor::zeros({4}), true), 1.0};
  const Tensor w0 = m.w.data().clone(), b0 = m.b.data().clone();
  const Tensor gw = uniform({4, kDim}, -1, 1, DType::f32, Device::cpu(), &gen);
  m.w.set_grad(gw.clone());  // an existing gradient must survive; b has none and must get none
  Tensor x = add(uniform({6, 1, kSide, kSide}, -0.02, 0.02, DType::f32, Device::cpu(), &gen), 0.5);
  ModelFn f = m.fn();
  Tensor y = predict(f, x);
  ApgdOptions dlr, targeted;
  dlr.loss = ApgdLoss::dlr;
  dlr.n_iter = 10;
  targeted.loss = ApgdLoss::targeted_dlr;
  targeted.n_iter = 10;
  targeted.n_target_classes = 3;
  SquareOptions sq;
  sq.n_queries = 50;
  fgsm(f, x, y);
  pgd(f, x, y, pgd20_options(), gen);
  pgd(f, x, y, cw_options(), gen);
  apgd(f, x, y, dlr, gen);
  apgd(f, x, y, targeted, gen);
  square_attack(f, x, y, sq, gen);
  CHECK(host(m.w.data()) == host(w0));
  CHECK(host(m.b.data()) == host(b0));
  REQUIRE(m.w.grad().defined());
  CHECK(host(m.w.grad()) == host(gw));
  CHECK_FALSE(m.b.grad().defined());
}

TEST_CASE("attacks: adversarial training steps lower the loss on adversarial inputs") {
  // A 2-layer MLP on 8 x 8 inputs labelled by a linear teacher.
  Generator gen(23);
  auto make = [&] {
    Generator init(29);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Flatten>());
    net->push_back(std::make_shared<nn::Linear>(64, 32, true, &init));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::Linear>(32, 3, true, &init));
    return net;
  };
  Tensor x = rand({64, 1, 8, 8}, DType::f32, Device::cpu(), &gen);
  LinearModel teacher{Variable(random_signs({3, 64}, gen)), Variable(Tensor::zeros({3})), 1.0};
  Tensor y = predict(teacher.fn(), x);

  for (bool tempered : {false, true}) {
    CAPTURE(tempered);
    auto net = make();
    ModelFn f = [net](const Variable& v) { return net->forward(v); };
    auto adversarial_loss = [&] {
      Generator g(31);
      PgdOptions o = pgd20_options();
      o.steps = 10;
      Tensor xa = pgd(f, x, y, o, g).x_adv;
      NoGradGuard no_grad;
      return cross_entropy(f(Variable(xa)), y).item();
    };
    const double before = adversarial_loss();
    optim::SgdOptions so;
    so.lr = 0.1;
    so.momentum = 0.9;
    optim::SGD sgd(net->named_parameters(), so);
    AdvTrainOptions o;
    o.tempered = tempered;
    o.tau = 10.0;
    double first = 0, last = 0;
    for (int s = 0; s < 15; ++s) {
      last = adversarial_training_step(*net, sgd, x, y, gen, o);
      if (s == 0) first = last;
      CHECK(std::isfinite(last));
    }
    CHECK(net->is_training());
    const double after = adversarial_loss();
    CHECK(after < 0.8 * before);
    CHECK(last < first);
  }
}

TEST_CASE("attacks: every attack runs on a ResNet-20 in eval mode") {
  Generator gen(37);
  auto net = nn::create_model("resnet20", 10, 3, 0, "cifar10", &gen);
  net->eval();
  ModelFn f = [net](const Variable& v) { return net->forward(v); };
  Tensor x = rand({2, 3, 32, 32}, DType::f32, Device::cpu(), &gen);
  Tensor y = predict(f, x);  // correct by construction, so every attack has work to do
  StateDict before = net->state_dict();
  for (auto& [name, t] : before) t = t.clone();  // state_dict shares the module's storage
  PgdOptions p = pgd20_options();
  p.steps = 2;
  ApgdOptions a;
  a.n_iter = 3;
  a.loss = ApgdLoss::dlr;
  SquareOptions s;
  s.n_queries = 5;
  for (const AttackResult& r : {pgd(f, x, y, p, gen), apgd(f, x, y, a, gen), square_attack(f, x, y, s, gen)}) {
    check_linf_ball(r.x_adv, x, kEps);
    CHECK(r.fooled.numel() == 2);
  }
  const StateDict after = net->state_dict();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CAPTURE(after[i].first);
    if (after[i].second.dtype() == DType::f32) CHECK(host(after[i].second) == host(before[i].second));
  }
  for (const Variable& v : net->parameters()) CHECK_FALSE(v.grad().defined());
}
