// Square attack (l_inf). Each iteration attacks only the points not yet fooled (one host copy of the
// alive mask per iteration: the per-example decision of the algorithm).
#include "attacks/square.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace tg::attacks {

double square_p_selection(double p_init, int it, int n_iters) {
  const int i = static_cast<int>(static_cast<double>(it) / n_iters * 10000);
  if (i <= 10) return p_init;
  if (i <= 50) return p_init / 2;
  if (i <= 200) return p_init / 4;
  if (i <= 500) return p_init / 8;
  if (i <= 1000) return p_init / 16;
  if (i <= 2000) return p_init / 32;
  if (i <= 4000) return p_init / 64;
  if (i <= 6000) return p_init / 128;
  if (i <= 8000) return p_init / 256;
  if (i <= 10000) return p_init / 512;
  return p_init;
}

namespace {

// +-eps with probability 1/2 each, of the given shape.
Tensor random_signs(const Shape& shape, double eps, const Tensor& like, const AttackRng& rng) {
  return affine(rng.randint(shape, 0, 2, like.device()).to(like.dtype()), 2 * eps, -eps);
}

}  // namespace

AttackResult square_attack(const ModelFn& model, const Tensor& x, const Tensor& y, const SquareOptions& o,
                           const AttackRng& rng) {
  TG_CHECK(x.dim() == 4, "square_attack: expects images [N, C, H, W], got ", x.str());
  TG_CHECK(x.size(0) == y.numel(), "square_attack: ", x.str(), " with labels ", y.str());
  TG_CHECK(o.eps >= 0 && o.n_queries >= 1 && o.p_init > 0 && o.p_init <= 1, "square_attack: bad options");
  NoGradGuard no_grad;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto margin_of = [&](const Tensor& xs, const Tensor& ys) { return logit_margin(model(Variable(xs)).data(), ys); };

  // Vertical-stripe initialization.
  Tensor x_best = clamp(add(x, random_signs({n, c, 1, w}, o.eps, x, rng)), 0.0, 1.0);
  Tensor margin_min = margin_of(x_best, y);
  Tensor zero = Tensor::scalar(0.0, x.dtype(), x.device());
  Tensor rows = Tensor::arange(h, DType::i64, x.device()).to(x.dtype()).reshape({1, 1, h, 1});
  Tensor cols = Tensor::arange(w, DType::i64, x.device()).to(x.dtype()).reshape({1, 1, 1, w});

  for (int it = 1; it < o.n_queries; ++it) {
    std::vector<int64_t> idx = nonzero_indices(gt(margin_min, zero));
    if (idx.empty()) break;
    const int64_t m = static_cast<int64_t>(idx.size());
    const AttackRng alive = rng.rows(idx);
    Tensor sel = index_tensor(idx, x.device());
    Tensor x_curr = index_select(x, 0, sel), x_best_curr = index_select(x_best, 0, sel);
    Tensor y_curr = index_select(y, 0, sel), margin_curr = index_select(margin_min, 0, sel);

    const double p = square_p_selection(o.p_init, it, o.n_queries);
    int64_t s = std::max<int64_t>(std::llround(std::sqrt(p * static_cast<double>(h * w))), 1);
    s = std::min<int64_t>(s, std::max<int64_t>(h - 1, 1));
    // Window corners in [0, H - s) x [0, W - s) (the reference's randint(0, h - s)).
    Tensor top = alive.randint({m, 1, 1, 1}, 0, std::max<int64_t>(h - s, 1), x.device()).to(x.dtype());
    Tensor left = alive.randint({m, 1, 1, 1}, 0, std::max<int64_t>(w - s, 1), x.device()).to(x.dtype());
    Tensor in_rows = logical_and(ge(rows, top), lt(rows, add(top, static_cast<double>(s))));
    Tensor in_cols = logical_and(ge(cols, left), lt(cols, add(left, static_cast<double>(s))));
    Tensor window = logical_and(in_rows, in_cols);  // [m, 1, H, W]

    Tensor deltas = where(window, random_signs({m, c, 1, 1}, o.eps, x, alive), sub(x_best_curr, x_curr));
    Tensor x_new = clamp(add(x_curr, deltas), 0.0, 1.0);
    Tensor margin_new = margin_of(x_new, y_curr);
    Tensor improved = lt(margin_new, margin_curr);
    x_best = merge_rows(x_best, where(per_example(improved, x_new), x_new, x_best_curr), idx);
    margin_min = merge_rows(margin_min, where(improved, margin_new, margin_curr), idx);
  }
  return {x_best, ne(predict(model, x_best), y)};
}

}  // namespace tg::attacks
