// Square attack, l_inf (Andriushchenko et al. 2020, "Square Attack: a query-efficient black-box
// adversarial attack via random search"), untargeted, on the margin loss z_y - max_{i != y} z_i.
// Score-based: forward passes only, under NoGradGuard, so it works on models whose backward is
// broken or absent, and it is blind to gradient masking.
// - init: vertical stripes, x + eps * s with s in {-1, +1} drawn per (example, channel, column);
// - each iteration, on the points not yet fooled: a square window of side
//   s = max(round(sqrt(p * H * W)), 1) (at most H - 1) at a random position gets a fresh +-eps per
//   channel (so the window moves by up to 2 eps); the candidate is kept where it lowers the margin;
// - p follows the published schedule: p_init = 0.8 halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000
//   and 8000 of 10000 iterations, rescaled to n_queries.
// Deviation from the reference: the reference redraws a window's signs until they change the image;
// we draw once (a query with no change is then simply not an improvement).
#pragma once

#include "attacks/common.h"

namespace tg::attacks {

struct SquareOptions {
  double eps = 8.0 / 255;
  int n_queries = 5000;  // per example, the initialization included
  double p_init = 0.8;
};

// Fraction of pixels changed at iteration `it` of `n_iters` (the reference's p_selection).
double square_p_selection(double p_init, int it, int n_iters);

// x: [N, C, H, W].
AttackResult square_attack(const ModelFn& model, const Tensor& x, const Tensor& y, const SquareOptions& options,
                           const AttackRng& rng);

}  // namespace tg::attacks
