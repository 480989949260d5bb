// optim/: each optimizer's first three steps against the torch.optim formulas evaluated here in
// float64, state checkpointing (save, restore, continue), the cosine schedule and gradient clipping.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "nn/loss.h"
#include "nn/models/resnet.h"
#include "optim/scheduler.h"
#include "tensor/ops.h"

using namespace tg;
using namespace tg::optim;

namespace {

const std::vector<double> kInit = {1.0, -2.0, 0.5, 3.0};
// The gradient fed at step t (0-based): fixed values, different per step.
std::vector<double> grad_at(int t) {
  return {0.3 - 0.2 * t, -1.0 + 0.5 * t, 2.0 * (t + 1), -0.05 * t};
}

Variable make_param() { return Variable(Tensor::from_vector(kInit, {2, 2}), true); }

void set_grad(Variable& p, int t) { p.set_grad(Tensor::from_vector(grad_at(t), {2, 2})); }

void check_close(const Variable& p, const std::vector<double>& want) {
  std::vector<double> got = p.data().to_vector<double>();
  for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
}

// torch.optim.SGD, written out.
std::vector<double> sgd_reference(int steps, double lr, double mom, double damp, double wd, bool nesterov) {
  std::vector<double> w = kInit, buf(w.size());
  for (int t = 0; t < steps; ++t) {
    std::vector<double> g = grad_at(t);
    for (size_t i = 0; i < w.size(); ++i) {
      double d = g[i] + wd * w[i];
      if (mom != 0) {
        buf[i] = t == 0 ? d : mom * buf[i] + (1 - damp) * d;
        d = nesterov ? d + mom * buf[i] : buf[i];
      }
      w[i] -= lr * d;
    }
  }
  return w;
}

// torch.optim.Adam / AdamW, written out.
std::vector<double> adam_reference(int steps, double lr, double b1, double b2, double eps, double wd, bool decoupled) {
  std::vector<double> w = kInit, m(w.size()), v(w.size());
  for (int t = 1; t <= steps; ++t) {
    std::vector<double> g = grad_at(t - 1);
    for (size_t i = 0; i < w.size(); ++i) {
      double d = g[i];
      if (decoupled) {
        w[i] *= 1 - lr * wd;
      } else {
        d += wd * w[i];
      }
      m[i] = b1 * m[i] + (1 - b1) * d;
      v[i] = b2 * v[i] + (1 - b2) * d * d;
      const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
      w[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
  return w;
}

}  // namespace

TEST_CASE("optim: SGD matches torch.optim.SGD for 3 steps") {
  struct Case {
    double momentum, dampening, weight_decay;
    bool nesterov;
  };
  for (Case c : {Case{0.9, 0.0, 0.01, true}, Case{0.9, 0.3, 0.0, false}, Case{0.0, 0.0, 0.1, false}}) {
    CAPTURE(c.momentum);
    CAPTURE(c.nesterov);
    Variable p = make_param();
    SGD opt({p}, SgdOptions{0.1, c.momentum, c.dampening, c.weight_decay, c.nesterov});
    for (int t = 0; t < 3; ++t) {
      set_grad(p, t);
      opt.step();
    }
    check_close(p, sgd_reference(3, 0.1, c.momentum, c.dampening, c.weight_decay, c.nesterov));
    CHECK(opt.state_dict().size() == (c.momentum != 0 ? 1u : 0u));
  }
}

TEST_CASE("optim: Adam and AdamW match torch.optim for 3 steps") {
  for (bool decoupled : {false, true}) {
    CAPTURE(decoupled);
    Variable p = make_param();
    AdamOptions o{0.01, 0.9, 0.999, 1e-8, 0.1};
    std::unique_ptr<Optimizer> opt;
    if (decoupled) {
      opt = std::make_unique<AdamW>(std::vector<Variable>{p}, o);
    } else {
      opt = std::make_unique<Adam>(std::vector<Variable>{p}, o);
    }
    for (int t = 0; t < 3; ++t) {
      set_grad(p, t);
      opt->step();
    }
    check_close(p, adam_reference(3, 0.01, 0.9, 0.999, 1e-8, 0.1, decoupled));
  }
}

TEST_CASE("optim: float32 parameters step like the float64 reference") {
  Variable p(Tensor::from_vector(std::vector<float>{1.0f, -2.0f, 0.5f, 3.0f}, {2, 2}), true);
  AdamW opt({p}, AdamOptions{0.01, 0.9, 0.999, 1e-8, 0.1});
  for (int t = 0; t < 3; ++t) {
    p.set_grad(Tensor::from_vector(grad_at(t), {2, 2}).to(DType::f32));
    opt.step();
  }
  std::vector<double> want = adam_reference(3, 0.01, 0.9, 0.999, 1e-8, 0.1, true);
  std::vector<float> got = p.data().to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
}

TEST_CASE("optim: state is named, checkpointable, and resuming continues exactly") {
  Variable a = make_param(), b = make_param();
  NamedParams named = {{"layer.weight", a}};
  Adam first(named, AdamOptions{0.01, 0.9, 0.999, 1e-8, 0.0});
  for (int t = 0; t < 2; ++t) {
    set_grad(a, t);
    first.step();
  }
  StateDict state = first.state_dict();
  REQUIRE(state.size() == 3);
  CHECK(state[0].first == "layer.weight.exp_avg");
  CHECK(state[1].first == "layer.weight.exp_avg_sq");
  CHECK(state[2].first == "layer.weight.step");
  CHECK(state[2].second.item() == 2);

  // A fresh optimizer on a copy of the parameters, restored from the state, takes the third step.
  b.data().copy_(a.data());
  Adam resumed(NamedParams{{"layer.weight", b}}, AdamOptions{0.01, 0.9, 0.999, 1e-8, 0.0});
  resumed.load_state_dict(state);
  set_grad(a, 2);
  set_grad(b, 2);
  first.step();
  resumed.step();
  CHECK(a.data().to_vector<double>() == b.data().to_vector<double>());
  check_close(a, adam_reference(3, 0.01, 0.9, 0.999, 1e-8, 0.0, false));

  CHECK_THROWS_AS(resumed.load_state_dict({{"other.exp_avg", Tensor::zeros({2, 2}, DType::f64)}}), Error);
  SGD sgd(NamedParams{{"w", b}}, SgdOptions{0.1, 0.9});
  set_grad(b, 0);
  sgd.step();
  CHECK(sgd.state_dict()[0].first == "w.momentum_buffer");
}

TEST_CASE("optim: parameters without a gradient are skipped; zero_grad drops gradients") {
  Variable p = make_param();
  SGD opt({p}, SgdOptions{0.1, 0.9});
  opt.step();
  check_close(p, kInit);
  set_grad(p, 0);
  opt.zero_grad();
  CHECK_FALSE(p.grad().defined());
  CHECK_THROWS_AS(SGD({p}, SgdOptions{0.1, 0.0, 0.0, 0.0, true}), Error);  // Nesterov without momentum
}

TEST_CASE("optim: cosine annealing with and without warmup") {
  CosineSchedule plain(0.1, 10);
  // torch.optim.lr_scheduler.CosineAnnealingLR(T_max = 10): eta_min + (base - eta_min)(1 + cos(pi t / T)) / 2.
  for (int t = 0; t <= 10; ++t)
    CHECK(plain.lr_at(t) == doctest::Approx(0.1 * (1 + std::cos(std::numbers::pi * t / 10)) / 2));
  CHECK(plain.lr_at(0) == doctest::Approx(0.1));
  CHECK(plain.lr_at(5) == doctest::Approx(0.05));
  CHECK(plain.lr_at(10) == doctest::Approx(0.0));
  CHECK(plain.lr_at(25) == doctest::Approx(0.0));

  CosineSchedule warm(0.1, 10, 2, 0.001);
  CHECK(warm.lr_at(0) == doctest::Approx(0.05));
  CHECK(warm.lr_at(1) == doctest::Approx(0.1));
  CHECK(warm.lr_at(2) == doctest::Approx(0.1));
  CHECK(warm.lr_at(6) == doctest::Approx(0.001 + 0.099 * 0.5));
  CHECK(warm.lr_at(10) == doctest::Approx(0.001));

  Variable p = make_param();
  SGD opt({p}, SgdOptions{0.1});
  warm.apply(opt, 0);
  CHECK(opt.lr() == doctest::Approx(0.05));
  CHECK_THROWS_AS(CosineSchedule(0.1, 10, 10), Error);
}

TEST_CASE("optim: clip_grad_norm scales by the global l2 norm and returns it") {
  Variable a(Tensor::zeros({2}), true), b(Tensor::zeros({1}), true), c(Tensor::zeros({3}), true);
  a.set_grad(Tensor::from_vector(std::vector<float>{3, 4}, {2}));
  b.set_grad(Tensor::from_vector(std::vector<float>{12}, {1}));
  // c has no gradient: ignored.
  const double norm = clip_grad_norm({a, b, c}, 6.5);
  CHECK(norm == doctest::Approx(13.0));
  const double s = 6.5 / (13.0 + 1e-6);
  CHECK(a.grad().to_vector<float>()[1] == doctest::Approx(4 * s));
  CHECK(b.grad().to_vector<float>()[0] == doctest::Approx(12 * s));
  // Under the limit nothing changes.
  CHECK(clip_grad_norm({a, b}, 100.0) == doctest::Approx(6.5).epsilon(1e-6));
  CHECK(b.grad().to_vector<float>()[0] == doctest::Approx(12 * s));
}

TEST_CASE("optim: SGD with Nesterov momentum and a cosine schedule trains a tiny ResNet") {
  // Two classes that differ in the mean brightness of the top half: learnable in a few steps.
  nn::ResNetConfig c;
  c.blocks = {1, 1};
  c.widths = {8, 16};
  c.stem = nn::ResNetStem::cifar;
  c.shortcut = nn::Shortcut::zero_pad;
  c.num_classes = 2;
  c.in_channels = 1;
  Generator g(3);
  nn::ResNet model(c, &g);
  Tensor x = rand({32, 1, 8, 8}, DType::f32, Device::cpu(), &g);
  std::vector<int64_t> y(32);
  float* px = x.data<float>();
  for (int64_t i = 0; i < 32; ++i) {
    y[i] = i % 2;
    for (int64_t k = 0; k < 32; ++k) px[i * 64 + k] = y[i] ? 0.8f + 0.2f * px[i * 64 + k] : 0.2f * px[i * 64 + k];
  }
  Tensor labels = Tensor::from_vector(y, {32});
  SGD opt(model.named_parameters(), SgdOptions{0.05, 0.9, 0.0, 5e-4, true});
  CosineSchedule schedule(0.05, 30, 3);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    schedule.apply(opt, step);
    opt.zero_grad();
    Variable loss = nn::tempered_cross_entropy(model.forward(Variable(x)), labels, 1.0);
    loss.backward();
    clip_grad_norm(model.parameters(), 5.0);
    opt.step();
    (step == 0 ? first : last) = loss.item();
  }
  CHECK(last < 0.25 * first);
}
