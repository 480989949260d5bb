// Learning-rate schedules, stepped once per optimizer step.
#pragma once

#include <cstdint>

#include "optim/optimizer.h"

namespace tg::optim {

// Linear warmup then cosine annealing (torch.optim.lr_scheduler.CosineAnnealingLR's formula):
//   t < W:  lr(t) = base * (t + 1) / W
//   t >= W: lr(t) = eta_min + (base - eta_min) * (1 + cos(pi * (t - W) / (T - W))) / 2
// with T = total_steps; t >= T gives eta_min. Without warmup (W = 0) this is CosineAnnealingLR with
// T_max = T, evaluated in closed form (so it resumes from any step).
class CosineSchedule {
 public:
  CosineSchedule(double base_lr, int64_t total_steps, int64_t warmup_steps = 0, double eta_min = 0.0);
  double lr_at(int64_t step) const;
  // Sets the optimizer's lr for step `step` (call before optimizer.step()).
  void apply(Optimizer& optimizer, int64_t step) const { optimizer.set_lr(lr_at(step)); }

  double base_lr, eta_min;
  int64_t total_steps, warmup_steps;
};

}  // namespace tg::optim
