// Shared pieces of the attacks: model queries, logit indices, the maximized objectives, projections.
#include "attacks/common.h"

#include "util/error.h"

namespace tg::attacks {

Tensor logits_no_grad(const ModelFn& model, const Tensor& x) {
  NoGradGuard no_grad;
  return model(Variable(x)).data();
}

Tensor predict(const ModelFn& model, const Tensor& x) { return argmax(logits_no_grad(model, x), 1); }

namespace {

// logits with the entries at `index` (int64 [N]) set to -inf.
Tensor mask_out(const Tensor& logits, const Tensor& index) {
  Tensor hot = one_hot(index.reshape({-1}), logits.size(1), logits.dtype());
  Tensor cond = gt(hot, Tensor::scalar(0.5, logits.dtype(), logits.device()));
  return where(cond, Tensor::scalar(-kInf, logits.dtype(), logits.device()), logits);
}

Tensor column(const Tensor& labels) { return labels.reshape({labels.numel(), 1}); }

}  // namespace

Tensor top_other_index(const Tensor& logits, const Tensor& y) {
  TG_CHECK(logits.dim() == 2 && y.numel() == logits.size(0), "top_other_index: logits ", logits.str(),
           " and labels ", y.str(), " do not match");
  return column(argmax(mask_out(logits, y), 1));
}

Tensor top_k_indices(const Tensor& logits, int64_t k) {
  TG_CHECK(logits.dim() == 2 && k >= 1 && k <= logits.size(1), "top_k_indices: k = ", k,
           " for logits ", logits.str());
  std::vector<Tensor> cols;
  Tensor rest = logits;
  for (int64_t i = 0; i < k; ++i) {
    Tensor idx = argmax(rest, 1);
    cols.push_back(column(idx));
    if (i + 1 < k) rest = mask_out(rest, idx);
  }
  return concat(cols, 1);
}

Tensor logit_margin(const Tensor& logits, const Tensor& y) {
  Tensor zy = gather(logits, column(y));
  Tensor zo = gather(logits, top_other_index(logits, y));
  return sub(zy, zo).reshape({-1});
}

Tensor count_correct(const Tensor& logits, const Tensor& y) { return sum(eq(argmax(logits, 1), y).to(DType::i64)); }

Tensor zero_rows(const Tensor& g) {
  Tensor largest = max(abs(g.reshape({g.size(0), -1})), {1});
  return eq(largest, Tensor::scalar(0.0, g.dtype(), g.device()));
}

Tensor count_zero_rows(const Tensor& g) { return sum(zero_rows(g).to(DType::i64)); }

// Margin objectives. The competitor index is chosen on the data (no graph); its logit is gathered from
// the Variable, so the gradient is that of z_other - z_y at the current competitor (the subgradient of
// the max). The kappa clamp zeroes the gradient once the margin passes kappa (C&W's max(., -kappa)).
Variable margin_loss(const Variable& logits, const Tensor& y, double kappa) {
  Variable zy = gather(logits, column(y));
  Variable zo = gather(logits, top_other_index(logits.data(), y));
  Variable m = reshape(sub(zo, zy), {-1});
  return kappa == kInf ? m : clamp(m, -kInf, kappa);
}

Variable targeted_margin_loss(const Variable& logits, const Tensor& t, double kappa) {
  Variable zt = gather(logits, column(t));
  Variable zo = gather(logits, top_other_index(logits.data(), t));
  Variable m = reshape(sub(zt, zo), {-1});
  return kappa == kInf ? m : clamp(m, -kInf, kappa);
}

// DLR = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12), pi the sort of z in decreasing order
// (Croce & Hein 2020, Eq. 6). Scale-invariant: multiplying the logits by any c > 0 leaves it unchanged,
// which is why it does not saturate on models with huge logits (tau = 100 training).
Variable dlr_loss(const Variable& logits, const Tensor& y) {
  TG_CHECK(logits.size(1) >= 3, "dlr_loss: needs at least 3 classes, got logits ", logits.data().str());
  Tensor top = top_k_indices(logits.data(), 3);
  Variable zy = gather(logits, column(y));
  Variable zo = gather(logits, top_other_index(logits.data(), y));
  Variable z1 = gather(logits, slice(top, 1, 0, 1));
  Variable z3 = gather(logits, slice(top, 1, 2, 3));
  Variable num = sub(zy, zo);
  Variable den = add(sub(z1, z3), 1e-12);
  return reshape(neg(div(num, den)), {-1});
}

// Targeted DLR = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12) (Croce & Hein 2020, Eq. 7).
Variable targeted_dlr_loss(const Variable& logits, const Tensor& y, const Tensor& t) {
  TG_CHECK(logits.size(1) >= 4, "targeted_dlr_loss: needs at least 4 classes, got logits ", logits.data().str());
  Tensor top = top_k_indices(logits.data(), 4);
  Variable zy = gather(logits, column(y));
  Variable zt = gather(logits, column(t));
  Variable z1 = gather(logits, slice(top, 1, 0, 1));
  Variable z3 = gather(logits, slice(top, 1, 2, 3));
  Variable z4 = gather(logits, slice(top, 1, 3, 4));
  Variable num = sub(zy, zt);
  Variable den = add(sub(z1, mul(add(z3, z4), 0.5)), 1e-12);
  return reshape(neg(div(num, den)), {-1});
}

Tensor per_example(const Tensor& v, const Tensor& x) {
  Shape s(static_cast<size_t>(x.dim()), 1);
  s[0] = x.size(0);
  return v.reshape(s);
}

Tensor l2_norms(const Tensor& t) { return sqrt(sum(square(t.reshape({t.size(0), -1})), {1})); }

Tensor project_linf(const Tensor& x_adv, const Tensor& x, double eps) {
  Tensor lo = add(x, -eps), hi = add(x, eps);
  return clamp(minimum(maximum(x_adv, lo), hi), 0.0, 1.0);
}

Tensor project_l2(const Tensor& x_adv, const Tensor& x, double eps) {
  Tensor delta = sub(x_adv, x);
  Tensor n = add(l2_norms(delta), 1e-12);
  // factor = min(1, eps / |delta|)
  Tensor factor = clamp(div(Tensor::full(n.shape(), eps, n.dtype(), n.device()), n), 0.0, 1.0);
  return clamp(add(x, mul(delta, per_example(factor, x))), 0.0, 1.0);
}

Tensor merge_rows(const Tensor& full, const Tensor& sub_rows, const std::vector<int64_t>& idx) {
  TG_CHECK(sub_rows.size(0) == static_cast<int64_t>(idx.size()), "merge_rows: ", idx.size(),
           " indices for ", sub_rows.str());
  if (idx.empty()) return full;
  const int64_t n = full.size(0);
  std::vector<int64_t> map(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) map[static_cast<size_t>(i)] = i;
  for (size_t j = 0; j < idx.size(); ++j) map[static_cast<size_t>(idx[j])] = n + static_cast<int64_t>(j);
  return index_select(concat({full, sub_rows}, 0), 0, index_tensor(map, full.device()));
}

std::vector<int64_t> nonzero_indices(const Tensor& mask) {
  std::vector<uint8_t> m = mask.to(DType::u8).cpu().to_vector<uint8_t>();
  std::vector<int64_t> idx;
  for (size_t i = 0; i < m.size(); ++i)
    if (m[i]) idx.push_back(static_cast<int64_t>(i));
  return idx;
}

Tensor index_tensor(const std::vector<int64_t>& idx, Device device) {
  return Tensor::from_vector(idx, {static_cast<int64_t>(idx.size())}).to(device);
}

Tensor logical_not(const Tensor& mask) { return eq(mask, Tensor::scalar(0, DType::u8, mask.device())); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return maximum(a, b); }

}  // namespace tg::attacks
