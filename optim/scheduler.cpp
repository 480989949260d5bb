#include "optim/scheduler.h"

#include <cmath>
#include <numbers>

namespace tg::optim {

CosineSchedule::CosineSchedule(double base_lr, int64_t total_steps, int64_t warmup_steps, double eta_min)
    : base_lr(base_lr), eta_min(eta_min), total_steps(total_steps), warmup_steps(warmup_steps) {
  TG_CHECK(total_steps > 0 && warmup_steps >= 0 && warmup_steps < total_steps, "CosineSchedule: need 0 <= warmup (",
           warmup_steps, ") < total steps (", total_steps, ")");
}

double CosineSchedule::lr_at(int64_t step) const {
  TG_CHECK(step >= 0, "CosineSchedule: negative step ", step);
  if (step < warmup_steps) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (step >= total_steps) return eta_min;
  const double t = static_cast<double>(step - warmup_steps), T = static_cast<double>(total_steps - warmup_steps);
  return eta_min + (base_lr - eta_min) * (1.0 + std::cos(std::numbers::pi * t / T)) / 2.0;
}

}  // namespace tg::optim
