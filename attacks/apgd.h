// APGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks"), l_inf, following autoattack's autopgd_base.py (attack_single_run / perturb):
// - momentum: z = P(x_k + eta sign(g)); x_{k+1} = P(x_k + alpha (z - x_k) + (1 - alpha)(x_k - x_{k-1}))
//   with alpha = 0.75 (1 on the first step), P the projection onto the eps-ball and [0, 1];
// - step size eta = 2 eps at first, halved per example at the checkpoints w_j = ceil(p_j n_iter),
//   p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06), when (1) the number of
//   steps since the last checkpoint that increased the loss is <= rho k (k steps), or (2) the step size
//   was not halved at the last checkpoint and the best loss has not improved since; after halving the
//   iterate restarts from the best point (and its gradient);
// - losses: CE (APGD-CE), DLR (APGD-DLR), targeted DLR over the top-9 classes (APGD-T).
// Only points the model classifies correctly are attacked (the others are already adversarial); each
// restart (and each APGD-T target) runs only on the points still robust.
// Checked number for number against a PyTorch transcription of the reference (tools/apgd_reference.py,
// tests/attacks/test_apgd_reference.cpp), so it keeps the reference's two quirks: at the first
// checkpoint the first step's loss is compared with 0 (a zero-filled history row), not with the loss at
// the start point (the paper's condition); and a fooled point's x_adv is the LAST misclassified iterate.
// Deviations from the reference, documented: (a) for points the attack does not break, x_adv is the
// highest-loss point found (the reference returns x), so x_adv is useful on its own (e.g. to measure the
// margin it reaches); (b) no EOT iterations; (c) float64 runs stay in float64 (the reference casts to
// float32).
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
  // The start of every run (each restart, each target), [N, ...] like x, clamped to [0, 1]; undefined
  // (the default): the random start. Given, the runs draw nothing from rng (used to compare
  // with the reference algorithm number for number: tests/attacks/test_apgd_reference.cpp).
  Tensor x_init;
};

AttackResult apgd(const ModelFn& model, const Tensor& x, const Tensor& y, const ApgdOptions& options,
                  const AttackRng& rng);

// The checkpoint iterations w_j = ceil(p_j n_iter) (for tests and docs): 22, 41, 57, ... for n_iter 100.
std::vector<int> apgd_checkpoints(int n_iter);

}  // namespace tg::attacks
