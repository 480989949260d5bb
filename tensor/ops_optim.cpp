// Device-generic optimizer updates: validate, dispatch (kernels: tensor/cpu/optim.cpp). In place.
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// Every state tensor must be defined like the parameter: same shape, dtype and device.
void check_like_param(const Tensor& param, std::initializer_list<const Tensor*> ts, const char* op) {
  TG_CHECK(param.defined() && is_floating(param.dtype()), op, ": parameter must be a floating tensor, got ",
           param.defined() ? param.str() : std::string("an undefined tensor"));
  for (const Tensor* t : ts) {
    common_device({&param, t}, op);
    TG_CHECK(t->shape() == param.shape() && t->dtype() == param.dtype(), op, ": ", t->str(),
             " does not match the parameter ", param.str());
  }
}

}  // namespace

void sgd_step_(Tensor& param, const Tensor& grad, Tensor& momentum_buf, const SgdParams& p) {
  if (p.momentum != 0.0) {
    check_like_param(param, {&grad, &momentum_buf}, "sgd_step_");
  } else {
    check_like_param(param, {&grad}, "sgd_step_");
  }
  TG_DISPATCH(param.device(), sgd_step, grad, param, momentum_buf, p);
}

void adam_step_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamParams& p) {
  check_like_param(param, {&grad, &exp_avg, &exp_avg_sq}, "adam_step_");
  TG_CHECK(p.step >= 1, "adam_step_: step must be >= 1 (1-based), got ", p.step);
  TG_DISPATCH(param.device(), adam_step, grad, param, exp_avg, exp_avg_sq, p);
}

}  // namespace tg
