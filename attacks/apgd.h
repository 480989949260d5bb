// APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks"), l_inf, following autoattack's apgd.py (attack_single_run / perturb):
// - momentum: z = P(x_k + eta sign(g)); x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1}))
//   with alpha = 0.75 (1 on the first step), P the projection onto the eps-ball and [0, 1];
// - step size eta = 2 eps at first, halved per example at the checkpoints w_j = ceil(p_j n_iter),
//   p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), when (1) the fraction of
//   steps since the last checkpoint that increased the loss is <= rho = 0.75, or (2) the step size was
//   not halved at the last checkpoint and the best loss has not improved since; after halving the
//   iterate restarts from the best point (and its gradient);
// - losses: CE (APGD-CE), DLR (APGD-DLR), targeted DLR over the top-9 classes (APGD-T).
// Only points the model classifies correctly are attacked (the others are already adversarial); each
// restart (and each APGD-T target) runs only on the points still robust.
// Deviations from the reference, documented: (a) at the first checkpoint the reference compares the
// first loss with a zero-filled row of its history; we compare it with the loss at the start point;
// (b) for points the attack does not break, x_adv is the highest-loss point found (the reference returns
// x), so x_adv is useful on its own (e.g. to measure the margin it reaches); (c) no EOT iterations.
#pragma once

#include "attacks/common.h"

namespace tg::attacks {

enum class ApgdLoss { ce, dlr, targeted_dlr };

struct ApgdOptions {
  double eps = 8.0 / 255;
  int n_iter = 100;
  ApgdLoss loss = ApgdLoss::ce;
  int restarts = 1;          // random restarts on the points still robust (per target for targeted_dlr)
  int n_target_classes = 9;  // targeted_dlr: the 2nd .. (n+1)-th most likely classes (capped at K - 1)
  double rho = 0.75;
  double momentum = 0.75;
};

AttackResult apgd(const ModelFn& model, const Tensor& x, const Tensor& y, const ApgdOptions& options,
                  Generator& gen);

// The checkpoint iterations w_j = ceil(p_j n_iter) (for tests and docs): 22, 41, 57, ... for n_iter 100.
std::vector<int> apgd_checkpoints(int n_iter);

}  // namespace tg::attacks
