// FGSM and PGD. The loop is tensor ops only (no host round trips), so it runs on the GPU unchanged.
#include "attacks/pgd.h"

#include "util/error.h"

namespace tg::attacks {

PgdOptions pgd20_options(double eps) {
  PgdOptions o;
  o.eps = eps;
  o.step_size = eps / 4;
  o.steps = 20;
  return o;
}

PgdOptions cw_options(double eps) {
  PgdOptions o = pgd20_options(eps);
  o.loss = PgdLoss::margin;
  o.kappa = 0.0;
  return o;
}

Tensor choose_targets(const ModelFn& model, const Tensor& x, const Tensor& y, TargetMode mode,
                      const AttackRng& rng, const Tensor& given) {
  switch (mode) {
    case TargetMode::given: {
      TG_CHECK(given.defined() && given.numel() == y.numel(), "choose_targets: given targets ",
               given.defined() ? given.str() : std::string("(undefined)"), " for labels ", y.str());
      Tensor t = given.to(DType::i64).to(y.device()).reshape({-1});
      TG_CHECK(nonzero_indices(eq(t, y)).empty(), "choose_targets: a given target equals its label");
      return t;
    }
    case TargetMode::random: {
      // t = (y + r) mod K with r uniform in [1, K): uniform over the classes != y.
      const int64_t k = logits_no_grad(model, x.slice_rows(0, 1)).size(1);
      TG_CHECK(k >= 2, "choose_targets: random targets need at least 2 classes");
      Tensor s = add(y, rng.randint(y.shape(), 1, k, y.device()));
      Tensor kk = Tensor::scalar(static_cast<double>(k), DType::i64, y.device());
      return where(ge(s, kk), sub(s, kk), s);
    }
    case TargetMode::least_likely:
      // argmin over the classes != y (a misclassified point may have y as its least likely class).
      return top_other_index(neg(logits_no_grad(model, x)), y).reshape({-1});
    case TargetMode::untargeted: break;
  }
  TG_FAIL("choose_targets: an untargeted attack has no targets");
}

namespace {

// The objective PGD maximizes, per example [N].
Variable objective(const Variable& logits, const Tensor& y, const Tensor& t, const PgdOptions& o) {
  const bool targeted = t.defined();
  if (o.loss == PgdLoss::ce) {
    Variable ce = cross_entropy_per_sample(logits, targeted ? t : y, o.tau);
    return targeted ? neg(ce) : ce;
  }
  return targeted ? targeted_margin_loss(logits, t, o.kappa) : margin_loss(logits, y, o.kappa);
}

// The objective and its input gradient at xa.
std::pair<Tensor, Tensor> objective_and_grad(const ModelFn& model, const Tensor& xa, const Tensor& y,
                                             const Tensor& t, const PgdOptions& o) {
  Variable xv(xa, true);
  Variable obj = objective(model(xv), y, t, o);
  Tensor g = grad({sum(obj)}, {xv})[0];
  return {obj.data(), g};
}

Tensor goal_reached(const ModelFn& model, const Tensor& xa, const Tensor& y, const Tensor& t) {
  Tensor pred = predict(model, xa);
  return t.defined() ? eq(pred, t) : ne(pred, y);
}

Tensor random_start(const Tensor& x, const PgdOptions& o, const AttackRng& rng) {
  if (o.norm == Norm::linf)
    return project_linf(add(x, rng.uniform(x.shape(), -o.eps, o.eps, x.dtype(), x.device())), x, o.eps);
  // l_2: a Gaussian direction scaled to a radius uniform in [0, eps].
  Tensor dir = rng.normal(x.shape(), x.dtype(), x.device());
  Tensor r = rng.uniform({x.size(0)}, 0, 1, x.dtype(), x.device());
  Tensor scale = div(mul(r, o.eps), add(l2_norms(dir), 1e-12));
  return project_l2(add(x, mul(dir, per_example(scale, x))), x, o.eps);
}

Tensor step(const Tensor& xa, const Tensor& x, const Tensor& g, const PgdOptions& o) {
  if (o.norm == Norm::linf) return project_linf(add(xa, mul(sign(g), o.step_size)), x, o.eps);
  Tensor unit = div(g, per_example(add(l2_norms(g), 1e-12), g));
  return project_l2(add(xa, mul(unit, o.step_size)), x, o.eps);
}

}  // namespace

AttackResult fgsm(const ModelFn& model, const Tensor& x, const Tensor& y, double eps, double tau) {
  PgdOptions o;
  o.eps = o.step_size = eps;
  o.steps = 1;
  o.random_start = false;
  o.tau = tau;
  return pgd(model, x, y, o, default_generator());  // no random draw: the generator is unused
}

AttackResult pgd(const ModelFn& model, const Tensor& x, const Tensor& y, const PgdOptions& o,
                 const AttackRng& rng) {
  TG_CHECK(x.size(0) == y.numel(), "pgd: ", x.str(), " with labels ", y.str());
  TG_CHECK(o.eps >= 0 && o.step_size >= 0 && o.steps >= 0 && o.restarts >= 1 && o.tau > 0,
           "pgd: bad options (eps ", o.eps, ", step ", o.step_size, ", steps ", o.steps, ", restarts ",
           o.restarts, ", tau ", o.tau, ")");
  Tensor t = o.target == TargetMode::untargeted ? Tensor() : choose_targets(model, x, y, o.target, rng, o.targets);

  Tensor best_x, best_fooled, best_obj;
  for (int r = 0; r < o.restarts; ++r) {
    Tensor xa = o.random_start ? random_start(x, o, rng) : x;
    for (int s = 0; s < o.steps; ++s) xa = step(xa, x, objective_and_grad(model, xa, y, t, o).second, o);
    Tensor fooled = goal_reached(model, xa, y, t);
    Tensor obj;
    {
      NoGradGuard no_grad;
      obj = objective(model(Variable(xa)), y, t, o).data();
    }
    if (r == 0) {
      best_x = xa, best_fooled = fooled, best_obj = obj;
      continue;
    }
    // Take this restart where it succeeds and the best so far does not, or where neither succeeds and
    // its objective is higher.
    Tensor not_best = logical_not(best_fooled);
    Tensor take = logical_or(logical_and(fooled, not_best),
                             logical_and(logical_and(not_best, logical_not(fooled)), gt(obj, best_obj)));
    best_x = where(per_example(take, x), xa, best_x);
    best_obj = where(take, obj, best_obj);
    best_fooled = logical_or(best_fooled, fooled);
  }
  return {best_x, best_fooled};
}

}  // namespace tg::attacks
