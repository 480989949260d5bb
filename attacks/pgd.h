// FGSM and PGD (Madry et al. 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks"),
// untargeted or targeted, on the cross-entropy (at a temperature tau, default 1) or the C&W margin
// loss, under l_inf (signed gradient steps) or l_2 (normalized gradient steps). See attacks/common.h
// for the conventions: pixels in [0, 1], the model in eval mode (the caller's job), input gradients only.
#pragma once

#include "attacks/common.h"

namespace tg::attacks {

enum class PgdLoss { ce, margin };
enum class TargetMode { untargeted, given, random, least_likely };

struct PgdOptions {
  double eps = 8.0 / 255;
  double step_size = 2.0 / 255;
  int steps = 20;
  bool random_start = true;  // l_inf: uniform in the eps-ball; l_2: uniform radius, Gaussian direction
  int restarts = 1;          // per example the best restart is kept (any success wins)
  Norm norm = Norm::linf;
  PgdLoss loss = PgdLoss::ce;
  double tau = 1.0;    // CE(z / tau, y); attacks use tau = 1 unless told otherwise
  double kappa = kInf;  // margin loss clamp (C&W's confidence); kInf: no clamp
  TargetMode target = TargetMode::untargeted;
  Tensor targets;  // int64 [N], for TargetMode::given
};

// PGD-20: eps 8/255, 20 steps of 2/255, uniform random start, CE at tau = 1.
PgdOptions pgd20_options(double eps = 8.0 / 255);

// "C&W" as the paper uses it under the l_inf bound: PGD on the C&W margin loss
// max_{i != y} z_i - z_y with the PGD-20 budget (eps 8/255, 20 steps of 2/255, random start, kappa 0).
// The original C&W attack (Carlini & Wagner 2017) is an l_2 optimization attack (Adam on
// |delta|_2^2 + c f(x + delta) with a binary search over c); under an l_inf threat model the standard
// practice (Madry et al., TRADES, the paper) is this budget-matched margin-loss PGD, which compares
// directly with PGD-20 and differs only in the loss: the margin works on logits, not on softmax
// probabilities, so it does not saturate when logits are huge. Step sizes scale with eps (eps / 4).
PgdOptions cw_options(double eps = 8.0 / 255);

// The targets of a targeted attack: `given` (checked != y), `random` (uniform over the classes != y,
// from rng) or `least_likely` (argmin of the clean logits over the classes != y). int64 [N] on x's device.
Tensor choose_targets(const ModelFn& model, const Tensor& x, const Tensor& y, TargetMode mode,
                      const AttackRng& rng, const Tensor& given = {});

// FGSM (Goodfellow et al. 2015): x + eps * sign(grad_x CE(F(x) / tau, y)), clamped to [0, 1].
AttackResult fgsm(const ModelFn& model, const Tensor& x, const Tensor& y, double eps = 8.0 / 255,
                  double tau = 1.0);

// PGD with restarts. Each step: x <- Proj(x + step * sign(g)) (l_inf) or x + step * g / |g|_2 (l_2),
// g the input gradient of the objective (untargeted: CE(z / tau, y) or the margin
// max_{i != y} z_i - z_y; targeted: -CE(z / tau, t) or z_t - max_{i != t} z_i), Proj onto the
// eps-ball and [0, 1]. Returns the last iterate of the best restart per example: a restart that
// reaches the goal wins, otherwise the one with the highest objective.
AttackResult pgd(const ModelFn& model, const Tensor& x, const Tensor& y, const PgdOptions& options,
                 const AttackRng& rng);

}  // namespace tg::attacks
