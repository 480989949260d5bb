#include "experiments/runner/verdict.h"

#include <sstream>

namespace tg::runner {

std::string verdict(const Evaluation& e, const VerdictRule& rule) {
  if (e.status != "finished") return e.status;
  const double pgd = e.attack("pgd20");
  if (std::isnan(pgd) || std::isnan(e.worst_case)) return "n/a";
  const bool far_below = pgd - e.worst_case >= rule.gap_points;
  const bool saturated = e.zero_grad_f32 >= rule.zero_grad_f32 || e.margin_above_17 >= rule.margins_above_17;
  if (far_below) return saturated ? "masked" : "inconclusive";
  return e.worst_case >= rule.robust_floor ? "robust" : "not robust";
}

std::string verdict_rule_text(const VerdictRule& r) {
  std::ostringstream os;
  os << "verdict: gap = PGD-20 % - worst case % (worst over every attack); saturated = zero-grad f32 >= "
     << 100 * r.zero_grad_f32 << "% or margin > 17 >= " << 100 * r.margins_above_17 << "%.\n"
     << "  masked: gap >= " << r.gap_points << " points and saturated; inconclusive: gap >= " << r.gap_points
     << " points, not saturated;\n"
     << "  robust: gap < " << r.gap_points << " points and worst case >= " << r.robust_floor
     << "%; not robust: gap < " << r.gap_points << " points and worst case < " << r.robust_floor << "%.";
  return os.str();
}

}  // namespace tg::runner
