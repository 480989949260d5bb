// Optimizers with torch.optim semantics, on the fused update kernels (tensor/kernels.inc: sgd_step,
// adam_step) so a step runs where the parameters live, GPU included, without host round trips.
// Parameters without a gradient are skipped (as torch does for grad None).
//
// State per parameter is exposed as named tensors for checkpoints: "<param name>.momentum_buffer"
// (SGD), "<param name>.exp_avg", ".exp_avg_sq", ".step" (Adam/AdamW; step is an int64 scalar).
// Parameter names are the module's (named_parameters) or "0", "1", ... for a plain list.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "tensor/state_dict.h"

namespace tg::optim {

using NamedParams = std::vector<std::pair<std::string, Variable>>;

class Optimizer {
 public:
  Optimizer(NamedParams params, double lr);
  Optimizer(const std::vector<Variable>& params, double lr);
  virtual ~Optimizer() = default;

  virtual void step() = 0;
  void zero_grad();  // drops every parameter's gradient

  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  const NamedParams& params() const { return params_; }

  // The state as named tensors (only what exists: buffers appear after the first step).
  virtual StateDict state_dict() const = 0;
  // Restores state written by state_dict(); names that are not this optimizer's are an error.
  virtual void load_state_dict(const StateDict& state) = 0;

 protected:
  NamedParams params_;
  double lr_;
};

struct SgdOptions {
  double lr = 0.1, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
};

// torch.optim.SGD: g = grad + wd p; buf = g (first) or m buf + (1 - dampening) g;
// g = g + m buf (Nesterov) or buf; p -= lr g.
class SGD : public Optimizer {
 public:
  SGD(NamedParams params, const SgdOptions& options);
  SGD(const std::vector<Variable>& params, const SgdOptions& options);
  void step() override;
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;
  SgdOptions options;

 private:
  void check_options() const;
  std::vector<Tensor> momentum_buffers_;  // undefined until the parameter's first step
};

struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

// torch.optim.Adam (decoupled = false: weight decay added to the gradient) and torch.optim.AdamW
// (decoupled = true: p *= 1 - lr wd before the Adam update).
class Adam : public Optimizer {
 public:
  Adam(NamedParams params, const AdamOptions& options, bool decoupled = false);
  Adam(const std::vector<Variable>& params, const AdamOptions& options, bool decoupled = false);
  void step() override;
  StateDict state_dict() const override;
  void load_state_dict(const StateDict& state) override;
  AdamOptions options;
  bool decoupled;

 private:
  void check_options() const;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  std::vector<int64_t> steps_;
};

// AdamW: Adam with decoupled weight decay (torch's AdamW defaults weight_decay to 0.01; set it in options).
class AdamW : public Adam {
 public:
  AdamW(NamedParams params, const AdamOptions& options) : Adam(std::move(params), options, true) {}
  AdamW(const std::vector<Variable>& params, const AdamOptions& options) : Adam(params, options, true) {}
};

// Scales all gradients by max_norm / (norm + 1e-6) when the global l2 norm exceeds max_norm
// (torch.nn.utils.clip_grad_norm_); returns the norm before clipping. Parameters without a
// gradient are ignored. One device-to-host copy (the norm).
double clip_grad_norm(const std::vector<Variable>& params, double max_norm);

}  // namespace tg::optim
