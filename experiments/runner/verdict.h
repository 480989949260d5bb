// The verdict on a model's PGD-20 robust accuracy (issue 10): is it real robustness, or gradient
// masking by softmax saturation? A model trained at a large tau learns logits about tau times larger;
// at tau = 1 its softmax saturates, CE's input gradient rounds to exactly zero in float32, and PGD-20
// (sign of the CE gradient) cannot move, while attacks that do not follow CE's gradient (APGD-DLR and
// APGD-T use a scale-invariant loss, Square only compares scores) still break the model. The rule,
// on the evaluation's numbers (percent of the attack subset, fractions of its clean points):
//   gap = PGD-20 - worst case (the worst case over every attack evaluated, PGD-20 included)
//   saturated = zero-gradient fraction (float32) >= 10%  or  margins above 17 >= 50%
//   masked        gap >= 10 points and saturated: PGD-20 overstates robustness, and saturation is why
//   inconclusive  gap >= 10 points, not saturated: PGD-20 is weak here for a reason the diagnostics
//                 do not show
//   robust        gap < 10 points and worst case >= 10%: PGD-20's number holds against every attack
//   not robust    gap < 10 points and worst case < 10%: PGD-20 is right, and the model is broken
//   n/a           PGD-20 or the worst case was not measured (a diverged run shows "diverged")
// The thresholds are VerdictRule's fields; verdict_rule_text prints them for --help and the tables.
#pragma once

#include <string>

#include "experiments/runner/evaluation.h"

namespace tg::runner {

struct VerdictRule {
  double gap_points = 10;          // PGD-20 - worst case, percentage points: "far below" from here on
  double zero_grad_f32 = 0.10;     // saturated: this fraction of float32 input gradients exactly zero,
  double margins_above_17 = 0.50;  // or this fraction of logit margins above 17 (1 + e^-17 == 1 in float32)
  double robust_floor = 10;        // percent: a worst case below it is "not robust"
};

// "masked", "inconclusive", "robust", "not robust", "n/a", or the status of a run that did not finish.
std::string verdict(const Evaluation& e, const VerdictRule& rule = {});

// The rule in a few lines, with its thresholds (for --help, the README and under the printed table).
std::string verdict_rule_text(const VerdictRule& rule = {});

}  // namespace tg::runner
