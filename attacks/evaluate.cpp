// Robust evaluation and the masking diagnostics.
#include "attacks/evaluate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace tg::attacks {

NamedAttack make_attack(const std::string& name, double eps, int square_queries, int apgd_iters) {
  if (name == "fgsm")
    return {name, [eps](const ModelFn& m, const Tensor& x, const Tensor& y, const AttackRng&) { return fgsm(m, x, y, eps); }};
  if (name == "pgd20" || name == "cw") {
    PgdOptions o = name == "cw" ? cw_options(eps) : pgd20_options(eps);
    return {name, [o](const ModelFn& m, const Tensor& x, const Tensor& y, const AttackRng& r) { return pgd(m, x, y, o, r); }};
  }
  if (name == "apgd-ce" || name == "apgd-dlr" || name == "apgd-t") {
    ApgdOptions o;
    o.eps = eps;
    o.n_iter = apgd_iters;
    o.loss = name == "apgd-ce" ? ApgdLoss::ce : name == "apgd-dlr" ? ApgdLoss::dlr : ApgdLoss::targeted_dlr;
    return {name, [o](const ModelFn& m, const Tensor& x, const Tensor& y, const AttackRng& r) { return apgd(m, x, y, o, r); }};
  }
  if (name == "square") {
    SquareOptions o;
    o.eps = eps;
    o.n_queries = square_queries;
    return {name,
            [o](const ModelFn& m, const Tensor& x, const Tensor& y, const AttackRng& r) { return square_attack(m, x, y, o, r); }};
  }
  TG_FAIL("make_attack: unknown attack '", name, "' (known: fgsm, pgd20, cw, apgd-ce, apgd-dlr, apgd-t, square)");
}

std::vector<std::string> attack_names() { return {"fgsm", "pgd20", "cw", "apgd-ce", "apgd-dlr", "apgd-t", "square"}; }

std::vector<NamedAttack> paper_attacks(double eps, int square_queries, int apgd_iters) {
  std::vector<NamedAttack> out;
  for (const char* name : {"pgd20", "cw", "apgd-ce", "apgd-dlr", "apgd-t", "square"})
    out.push_back(make_attack(name, eps, square_queries, apgd_iters));
  return out;
}

NamedAttack worst_case_attack(std::vector<NamedAttack> parts) {
  return {"worst", [parts = std::move(parts)](const ModelFn& f, const Tensor& x, const Tensor& y, const AttackRng& rng) {
            AttackResult out{x, logical_not(eq(predict(f, x), y))};
            for (const NamedAttack& a : parts) {
              const std::vector<int64_t> idx = nonzero_indices(logical_not(out.fooled));
              if (idx.empty()) break;
              const Tensor at = index_tensor(idx, x.device());
              const Tensor ys = index_select(y, 0, at);
              const Tensor x_adv = a.run(f, index_select(x, 0, at), ys, rng.rows(idx)).x_adv;
              out.x_adv = merge_rows(out.x_adv, x_adv, idx);
              out.fooled = merge_rows(out.fooled, logical_not(eq(predict(f, x_adv), ys)), idx);
            }
            return out;
          }};
}

ModelFn as_model_fn(nn::Module& model) {
  return [&model](const Variable& v) { return model.forward(v); };
}

namespace {

double mean_of(const Tensor& mask) {
  std::vector<uint8_t> m = mask.cpu().to_vector<uint8_t>();
  if (m.empty()) return 0.0;
  return static_cast<double>(std::count(m.begin(), m.end(), uint8_t{1})) / static_cast<double>(m.size());
}

// Calls f(begin, end) for consecutive batches of rows.
template <class F>
void for_batches(int64_t n, int64_t batch_size, F&& f) {
  TG_CHECK(batch_size >= 1, "evaluate: batch_size must be >= 1, got ", batch_size);
  for (int64_t b = 0; b < n; b += batch_size) f(b, std::min(n, b + batch_size));
}

// The rows idx of x (all rows when idx covers them).
Tensor rows(const Tensor& x, const std::vector<int64_t>& idx) { return index_select(x, 0, index_tensor(idx, x.device())); }

}  // namespace

Tensor correct_mask(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size) {
  std::vector<Tensor> parts;
  for_batches(x.size(0), batch_size, [&](int64_t b, int64_t e) {
    parts.push_back(eq(predict(model, x.slice_rows(b, e)), y.slice_rows(b, e)).cpu());
  });
  return parts.empty() ? Tensor::zeros({0}, DType::u8) : concat(parts, 0);
}

double accuracy(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size) {
  return mean_of(correct_mask(model, x, y, batch_size));
}

Tensor robust_mask(const ModelFn& model, const NamedAttack& attack, const Tensor& x, const Tensor& y,
                   const AttackRng& rng, int64_t batch_size) {
  std::vector<Tensor> parts;
  for_batches(x.size(0), batch_size, [&](int64_t b, int64_t e) {
    Tensor xs = x.slice_rows(b, e), ys = y.slice_rows(b, e);
    Tensor robust = eq(predict(model, xs), ys);
    std::vector<int64_t> idx = nonzero_indices(robust);
    if (!idx.empty()) {
      Tensor xc = rows(xs, idx), yc = rows(ys, idx);
      AttackResult r = attack.run(model, xc, yc, rng.rows(b, e).rows(idx));
      robust = merge_rows(robust, eq(predict(model, r.x_adv), yc), idx);
    }
    parts.push_back(robust.cpu());
  });
  return parts.empty() ? Tensor::zeros({0}, DType::u8) : concat(parts, 0);
}

double robust_accuracy(const ModelFn& model, const NamedAttack& attack, const Tensor& x, const Tensor& y,
                       const AttackRng& rng, int64_t batch_size) {
  return mean_of(robust_mask(model, attack, x, y, rng, batch_size));
}

WorstCaseResult worst_case(const ModelFn& model, const std::vector<NamedAttack>& attacks, const Tensor& x,
                           const Tensor& y, const AttackRng& rng, int64_t batch_size, bool cascade) {
  WorstCaseResult out;
  Tensor correct = correct_mask(model, x, y, batch_size);
  out.clean = mean_of(correct);
  Tensor robust = correct;
  for (const NamedAttack& a : attacks) {
    // cascade: attack only the points still robust; otherwise every clean-correct point.
    std::vector<int64_t> idx = nonzero_indices(cascade ? robust : correct);
    Tensor mask = cascade ? robust : correct;
    if (!idx.empty()) {
      Tensor r = robust_mask(model, a, rows(x, idx), rows(y, idx), rng.rows(idx), batch_size);
      mask = merge_rows(mask, r, idx);
    }
    robust = logical_and(robust, mask);
    out.per_attack.emplace_back(a.name, mean_of(cascade ? robust : mask));
  }
  out.worst = mean_of(robust);
  out.robust = robust;
  return out;
}

Tensor eps_sweep_masks(const ModelFn& model, const std::function<NamedAttack(double)>& make,
                       const std::vector<double>& eps_values, const Tensor& x, const Tensor& y, const AttackRng& rng,
                       int64_t batch_size) {
  TG_CHECK(std::is_sorted(eps_values.begin(), eps_values.end()) && (eps_values.empty() || eps_values[0] >= 0),
           "eps_sweep: eps values must be non-negative and ascending");
  const int64_t n_eps = static_cast<int64_t>(eps_values.size());
  if (n_eps == 0 || x.size(0) == 0) return Tensor::zeros({n_eps, x.size(0)}, DType::u8);
  std::vector<NamedAttack> attacks;
  for (double eps : eps_values) attacks.push_back(make(eps));
  std::vector<Tensor> batches;  // [n_eps, rows of the batch] each
  for_batches(x.size(0), batch_size, [&](int64_t b, int64_t e) {
    const Tensor xs = x.slice_rows(b, e), ys = y.slice_rows(b, e);
    const AttackRng batch_rng = rng.rows(b, e);
    Tensor robust = eq(predict(model, xs), ys);
    std::vector<Tensor> per_eps;
    for (int64_t k = 0; k < n_eps; ++k) {
      std::vector<int64_t> idx = nonzero_indices(robust);
      if (eps_values[static_cast<size_t>(k)] > 0 && !idx.empty()) {
        const Tensor ya = rows(ys, idx);
        const Tensor x_adv = attacks[static_cast<size_t>(k)].run(model, rows(xs, idx), ya, batch_rng.rows(idx)).x_adv;
        robust = merge_rows(robust, eq(predict(model, x_adv), ya), idx);
      }
      per_eps.push_back(robust.cpu().reshape({1, e - b}));
    }
    batches.push_back(concat(per_eps, 0));
  });
  return concat(batches, 1);
}

std::vector<std::pair<double, double>> eps_sweep(const ModelFn& model, const std::function<NamedAttack(double)>& make,
                                                 const std::vector<double>& eps_values, const Tensor& x,
                                                 const Tensor& y, const AttackRng& rng, int64_t batch_size) {
  const Tensor masks = eps_sweep_masks(model, make, eps_values, x, y, rng, batch_size);
  std::vector<std::pair<double, double>> out;
  for (size_t k = 0; k < eps_values.size(); ++k)
    out.emplace_back(eps_values[k], mean_of(masks.slice_rows(static_cast<int64_t>(k), static_cast<int64_t>(k) + 1)));
  return out;
}

std::vector<double> default_sweep_eps() {
  std::vector<double> out;
  for (double k : {0, 1, 2, 4, 6, 8, 12, 16, 24, 32}) out.push_back(k / 255.0);
  return out;
}

Tensor zero_gradient_rows(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size) {
  std::vector<Tensor> parts;
  for_batches(x.size(0), batch_size, [&](int64_t b, int64_t e) {
    Variable xv(x.slice_rows(b, e), true);
    Variable ce = cross_entropy_per_sample(model(xv), y.slice_rows(b, e), 1.0);
    parts.push_back(zero_rows(grad({sum(ce)}, {xv})[0]).cpu());
  });
  return parts.empty() ? Tensor::zeros({0}, DType::u8) : concat(parts, 0);
}

double zero_gradient_fraction(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size) {
  return mean_of(zero_gradient_rows(model, x, y, batch_size));
}

std::vector<double> logit_margins(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size) {
  std::vector<double> out;
  for_batches(x.size(0), batch_size, [&](int64_t b, int64_t e) {
    Tensor m = logit_margin(logits_no_grad(model, x.slice_rows(b, e)), y.slice_rows(b, e));
    std::vector<double> v = m.to(DType::f64).cpu().to_vector<double>();
    out.insert(out.end(), v.begin(), v.end());
  });
  return out;
}

MarginSummary summarize(std::vector<double> v) {
  MarginSummary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {  // linear interpolation between order statistics (numpy's default)
    const double pos = p * static_cast<double>(v.size() - 1);
    const size_t lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
  };
  s.min = v.front(), s.max = v.back(), s.p10 = q(0.1), s.median = q(0.5), s.p90 = q(0.9);
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return s;
}

MaskingDiagnostics masking_diagnostics(nn::Module& model, const Tensor& x, const Tensor& y, int64_t batch_size) {
  TG_CHECK(x.dtype() == DType::f32, "masking_diagnostics: expects float32 pixels, got ", x.str());
  ModelFn f = as_model_fn(model);
  MaskingDiagnostics d;
  d.zero_rows_f32 = zero_gradient_rows(f, x, y, batch_size);
  d.zero_grad_f32 = mean_of(d.zero_rows_f32);
  d.margins = logit_margins(f, x, y, batch_size);
  model.to(DType::f64);
  try {
    d.zero_rows_f64 = zero_gradient_rows(f, x.to(DType::f64), y, batch_size);
    d.zero_grad_f64 = mean_of(d.zero_rows_f64);
  } catch (...) {
    model.to(DType::f32);
    throw;
  }
  model.to(DType::f32);
  return d;
}

Tensor collect_logits(const ModelFn& model, const Tensor& x, int64_t batch_size) {
  return collect_logits(model, x.size(0), [&](int64_t b, int64_t e) { return x.slice_rows(b, e); }, batch_size);
}

Tensor collect_logits(const ModelFn& model, int64_t n, const std::function<Tensor(int64_t, int64_t)>& inputs,
                      int64_t batch_size) {
  std::vector<Tensor> parts;
  for_batches(n, batch_size, [&](int64_t b, int64_t e) { parts.push_back(logits_no_grad(model, inputs(b, e)).cpu()); });
  TG_CHECK(!parts.empty(), "collect_logits: no inputs");
  return concat(parts, 0);
}

}  // namespace tg::attacks
