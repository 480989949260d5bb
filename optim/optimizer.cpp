#include "optim/optimizer.h"

#include <cmath>
#include <set>

#include "tensor/ops.h"

namespace tg::optim {

namespace {

NamedParams number(const std::vector<Variable>& params) {
  NamedParams out;
  for (size_t i = 0; i < params.size(); ++i) out.emplace_back(std::to_string(i), params[i]);
  return out;
}

// The gradient of p, checked against it; undefined when p has none.
Tensor checked_grad(const std::string& name, const Variable& p, const char* op) {
  const Tensor& g = p.grad();
  if (!g.defined()) return g;
  TG_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(), op, ": gradient of '",
           name, "' is ", g.str(), " but the parameter is ", p.data().str());
  return g;
}

// Looks up "<param>.<what>" in a state dict and copies it into `dst` (allocated like the parameter).
void load_entry(const StateDict& state, const std::string& key, const Variable& p, Tensor& dst,
                std::set<std::string>& used, const char* op) {
  const Tensor* t = find(state, key);
  if (!t) return;
  TG_CHECK(t->shape() == p.shape(), op, ": state '", key, "' is ", shape_str(t->shape()), " but the parameter is ",
           shape_str(p.shape()));
  dst = Tensor::empty(p.shape(), p.dtype(), p.device());
  dst.copy_(t->dtype() == p.dtype() ? *t : t->to(p.dtype()));
  used.insert(key);
}

void check_all_used(const StateDict& state, const std::set<std::string>& used, const char* op) {
  std::string unknown;
  for (const auto& [n, t] : state)
    if (!used.count(n)) unknown += "\n  " + n;
  TG_CHECK(unknown.empty(), op, ": state entries that match no parameter:", unknown);
}

}  // namespace

Optimizer::Optimizer(NamedParams params, double lr) : params_(std::move(params)), lr_(lr) {
  for (const auto& [n, p] : params_)
    TG_CHECK(p.defined() && p.requires_grad(), "optimizer: parameter '", n, "' does not require grad");
}

Optimizer::Optimizer(const std::vector<Variable>& params, double lr) : Optimizer(number(params), lr) {}

void Optimizer::zero_grad() {
  for (auto& [n, p] : params_) p.zero_grad();
}

// ---- SGD ----

SGD::SGD(NamedParams params, const SgdOptions& o) : Optimizer(std::move(params), o.lr), options(o) {
  check_options();
  momentum_buffers_.resize(params_.size());
}

SGD::SGD(const std::vector<Variable>& params, const SgdOptions& o) : SGD(number(params), o) {}

void SGD::check_options() const {
  TG_CHECK(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0, "SGD: negative lr (", options.lr,
           "), momentum (", options.momentum, ") or weight decay (", options.weight_decay, ")");
  TG_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
           "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
}

void SGD::step() {
  SgdParams sp{lr_, options.momentum, options.dampening, options.weight_decay, options.nesterov, false};
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& p = params_[i].second;
    Tensor g = checked_grad(params_[i].first, p, "SGD");
    if (!g.defined()) continue;
    Tensor& buf = momentum_buffers_[i];
    sp.first_step = false;
    if (options.momentum != 0 && !buf.defined()) {
      buf = Tensor::empty(p.shape(), p.dtype(), p.device());
      sp.first_step = true;
    }
    sgd_step_(p.data(), g, buf, sp);
  }
}

StateDict SGD::state_dict() const {
  StateDict out;
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_buffers_[i].defined()) out.emplace_back(params_[i].first + ".momentum_buffer", momentum_buffers_[i]);
  return out;
}

void SGD::load_state_dict(const StateDict& state) {
  std::set<std::string> used;
  for (size_t i = 0; i < params_.size(); ++i)
    load_entry(state, params_[i].first + ".momentum_buffer", params_[i].second, momentum_buffers_[i], used,
               "SGD.load_state_dict");
  check_all_used(state, used, "SGD.load_state_dict");
}

// ---- Adam / AdamW ----

Adam::Adam(NamedParams params, const AdamOptions& o, bool decoupled)
    : Optimizer(std::move(params), o.lr), options(o), decoupled(decoupled) {
  check_options();
  exp_avg_.resize(params_.size());
  exp_avg_sq_.resize(params_.size());
  steps_.assign(params_.size(), 0);
}

Adam::Adam(const std::vector<Variable>& params, const AdamOptions& o, bool decoupled)
    : Adam(number(params), o, decoupled) {}

void Adam::check_options() const {
  TG_CHECK(options.lr >= 0 && options.eps >= 0 && options.weight_decay >= 0, "Adam: negative lr, eps or weight decay");
  TG_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1, "Adam: betas (",
           options.beta1, ", ", options.beta2, ") must be in [0, 1)");
}

void Adam::step() {
  const char* op = decoupled ? "AdamW" : "Adam";
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& p = params_[i].second;
    Tensor g = checked_grad(params_[i].first, p, op);
    if (!g.defined()) continue;
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
      exp_avg_sq_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
    }
    AdamParams ap{lr_, options.beta1, options.beta2, options.eps, options.weight_decay, decoupled, ++steps_[i]};
    adam_step_(p.data(), g, exp_avg_[i], exp_avg_sq_[i], ap);
  }
}

StateDict Adam::state_dict() const {
  StateDict out;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    const std::string& n = params_[i].first;
    out.emplace_back(n + ".exp_avg", exp_avg_[i]);
    out.emplace_back(n + ".exp_avg_sq", exp_avg_sq_[i]);
    out.emplace_back(n + ".step", Tensor::scalar(static_cast<double>(steps_[i]), DType::i64));
  }
  return out;
}

void Adam::load_state_dict(const StateDict& state) {
  const char* op = decoupled ? "AdamW.load_state_dict" : "Adam.load_state_dict";
  std::set<std::string> used;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& n = params_[i].first;
    load_entry(state, n + ".exp_avg", params_[i].second, exp_avg_[i], used, op);
    load_entry(state, n + ".exp_avg_sq", params_[i].second, exp_avg_sq_[i], used, op);
    if (const Tensor* s = find(state, n + ".step")) {
      steps_[i] = static_cast<int64_t>(s->item());
      used.insert(n + ".step");
    }
    TG_CHECK(exp_avg_[i].defined() == exp_avg_sq_[i].defined(), op, ": '", n,
             "' has only one of exp_avg and exp_avg_sq");
  }
  check_all_used(state, used, op);
}

// ---- gradient clipping ----

double clip_grad_norm(const std::vector<Variable>& params, double max_norm) {
  Tensor total;  // sum of squares, on the parameters' device (reductions accumulate in double on the CPU)
  for (const Variable& p : params) {
    if (!p.grad().defined()) continue;
    Tensor sq = tg::sum(tg::square(p.grad()));
    total = total.defined() ? tg::add(total, sq.to(total.dtype())) : sq;
  }
  if (!total.defined()) return 0.0;
  const double norm = std::sqrt(total.item());
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) {
    for (const Variable& p : params) {
      if (!p.grad().defined()) continue;
      Variable q = p;
      q.set_grad(tg::mul(p.grad(), coef));
    }
  }
  return norm;
}

}  // namespace tg::optim
