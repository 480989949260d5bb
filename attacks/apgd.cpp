// APGD: one run (attack_single_run in autoattack) is tensor ops only; the driver picks the points
// still robust between restarts and targets (a per-example decision: one host copy per run).
#include "attacks/apgd.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace tg::attacks {

std::vector<int> apgd_checkpoints(int n_iter) {
  // The reference counts in iterations: the first period is max(0.22 n, 1), each next one 0.03 n
  // shorter, but at least 0.06 n.
  const int first = std::max(static_cast<int>(0.22 * n_iter), 1);
  const int decrease = std::max(static_cast<int>(0.03 * n_iter), 1);
  const int minimum = std::max(static_cast<int>(0.06 * n_iter), 1);
  std::vector<int> out;
  for (int k = first, at = first; at <= n_iter; k = std::max(k - decrease, minimum), at += k) out.push_back(at);
  return out;
}

namespace {

struct Run {
  Tensor x_best, x_best_adv, fooled;  // fooled: uint8 [n]
};

Variable apgd_objective(const Variable& logits, const Tensor& y, const Tensor& t, ApgdLoss loss) {
  switch (loss) {
    case ApgdLoss::ce: return cross_entropy_per_sample(logits, y, 1.0);
    case ApgdLoss::dlr: return dlr_loss(logits, y);
    case ApgdLoss::targeted_dlr: return targeted_dlr_loss(logits, y, t);
  }
  TG_FAIL("apgd: unknown loss");
}

// One APGD run (autoattack's attack_single_run, l_inf) from `start`, or, when it is undefined, from a
// random start in the eps-ball.
Run single_run(const ModelFn& model, const Tensor& x, const Tensor& y, const Tensor& t, const Tensor& start,
               const ApgdOptions& o, const AttackRng& rng) {
  const double eps = o.eps;
  const int n = static_cast<int>(x.size(0));
  Tensor x_adv;
  if (start.defined()) {
    x_adv = clamp(start, 0.0, 1.0);
  } else {
    // x + eps * u / max|u| with u uniform in [-1, 1] (the reference's normalized random start).
    Tensor u = rng.uniform(x.shape(), -1.0, 1.0, x.dtype(), x.device());
    Tensor umax = max(abs(u.reshape({n, -1})), {1});
    x_adv = clamp(add(x, mul(div(u, per_example(add(umax, 1e-12), x)), eps)), 0.0, 1.0);
  }

  auto loss_and_grad = [&](const Tensor& xa, Tensor& loss, Tensor& g, Tensor& pred) {
    Variable xv(xa, true);
    Variable logits = model(xv);
    Variable l = apgd_objective(logits, y, t, o.loss);
    g = grad({sum(l)}, {xv})[0];
    loss = l.data();
    pred = argmax(logits.data(), 1);
  };

  Tensor loss, g, pred;
  loss_and_grad(x_adv, loss, g, pred);
  Tensor fooled = ne(pred, y);
  Tensor x_best = x_adv, x_best_adv = x_adv, g_best = g, loss_best = loss;
  Tensor step = Tensor::full({n}, 2.0 * eps, x.dtype(), x.device());
  Tensor x_old = x_adv;

  // Checkpoint bookkeeping.
  const int first = std::max(static_cast<int>(0.22 * o.n_iter), 1);
  const int decrease = std::max(static_cast<int>(0.03 * o.n_iter), 1);
  const int minimum = std::max(static_cast<int>(0.06 * o.n_iter), 1);
  int k = first, since_check = 0;
  Tensor loss_best_last_check = loss_best;
  Tensor reduced_last_check = Tensor::ones({n}, DType::u8, x.device());
  // The loss after each step, in a table of n_iter rows that starts zero-filled, read as the reference
  // reads it: the step before step 0 is row n_iter - 1 (Python's row -1), i.e. 0 at the first
  // checkpoint, not the loss at the start point.
  const Tensor zero_loss = Tensor::zeros({n}, x.dtype(), x.device());
  std::vector<Tensor> loss_steps(static_cast<size_t>(o.n_iter), zero_loss);

  for (int i = 0; i < o.n_iter; ++i) {
    {
      const double a = i > 0 ? o.momentum : 1.0;
      Tensor momentum = sub(x_adv, x_old);
      x_old = x_adv;
      Tensor z = project_linf(add(x_adv, mul(sign(g), per_example(step, x))), x, eps);
      x_adv = project_linf(add(add(x_adv, mul(sub(z, x_adv), a)), mul(momentum, 1.0 - a)), x, eps);
    }
    loss_and_grad(x_adv, loss, g, pred);
    Tensor now_fooled = ne(pred, y);
    x_best_adv = where(per_example(now_fooled, x), x_adv, x_best_adv);  // the last misclassified iterate
    fooled = logical_or(fooled, now_fooled);

    Tensor improved = gt(loss, loss_best);
    Tensor improved_x = per_example(improved, x);
    x_best = where(improved_x, x_adv, x_best);
    g_best = where(improved_x, g, g_best);
    loss_best = where(improved, loss, loss_best);
    loss_steps[static_cast<size_t>(i)] = loss;

    if (++since_check == k) {
      // Condition 1: fraction of increasing steps over the last k <= rho.
      Tensor increases = Tensor::zeros({n}, x.dtype(), x.device());
      for (int j = i - k + 1; j <= i; ++j) {
        const int before = j > 0 ? j - 1 : o.n_iter - 1;
        add_(increases, gt(loss_steps[static_cast<size_t>(j)], loss_steps[static_cast<size_t>(before)]).to(x.dtype()));
      }
      Tensor oscillating = le(increases, Tensor::scalar(k * o.rho, x.dtype(), x.device()));
      // Condition 2: not reduced at the last checkpoint and no improvement of the best loss since.
      Tensor stalled = logical_and(logical_not(reduced_last_check), ge(loss_best_last_check, loss_best));
      Tensor reduce = logical_or(oscillating, stalled);
      reduced_last_check = reduce;
      loss_best_last_check = loss_best;
      step = where(reduce, mul(step, 0.5), step);
      Tensor reduce_x = per_example(reduce, x);
      x_adv = where(reduce_x, x_best, x_adv);
      g = where(reduce_x, g_best, g);
      k = std::max(k - decrease, minimum);
      since_check = 0;
    }
  }
  return {x_best, x_best_adv, fooled};
}

}  // namespace

AttackResult apgd(const ModelFn& model, const Tensor& x, const Tensor& y, const ApgdOptions& o, const AttackRng& rng) {
  TG_CHECK(x.size(0) == y.numel(), "apgd: ", x.str(), " with labels ", y.str());
  TG_CHECK(o.eps >= 0 && o.n_iter >= 1 && o.restarts >= 1 && o.n_target_classes >= 1, "apgd: bad options");
  TG_CHECK(!o.x_init.defined() || (o.x_init.shape() == x.shape() && o.x_init.dtype() == x.dtype()),
           "apgd: start point ", o.x_init.str(), " for inputs ", x.str());
  Tensor clean_logits = logits_no_grad(model, x);
  Tensor fooled = ne(argmax(clean_logits, 1), y);
  Tensor x_adv = x;

  // One run on the points still robust, merged back into the batch.
  auto run_on_robust = [&](const Tensor& targets_all) {
    std::vector<int64_t> idx = nonzero_indices(logical_not(fooled));
    if (idx.empty()) return;
    Tensor sel = index_tensor(idx, x.device());
    Tensor xs = index_select(x, 0, sel), ys = index_select(y, 0, sel);
    Tensor ts = targets_all.defined() ? index_select(targets_all, 0, sel) : Tensor();
    Tensor starts = o.x_init.defined() ? index_select(o.x_init, 0, sel) : Tensor();
    Run r = single_run(model, xs, ys, ts, starts, o, rng.rows(idx));
    Tensor out = where(per_example(r.fooled, xs), r.x_best_adv, r.x_best);
    x_adv = merge_rows(x_adv, out, idx);
    fooled = merge_rows(fooled, r.fooled, idx);
  };

  if (o.loss == ApgdLoss::targeted_dlr) {
    const int64_t k = clean_logits.size(1);
    const int64_t n_targets = std::min<int64_t>(o.n_target_classes, k - 1);
    Tensor order = top_k_indices(clean_logits, n_targets + 1);
    for (int64_t j = 1; j <= n_targets; ++j)
      for (int r = 0; r < o.restarts; ++r) run_on_robust(slice(order, 1, j, j + 1).reshape({-1}));
  } else {
    for (int r = 0; r < o.restarts; ++r) run_on_robust(Tensor());
  }
  return {x_adv, fooled};
}

}  // namespace tg::attacks
