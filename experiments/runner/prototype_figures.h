// The paper's figures on class prototypes, each a FigureSpec (experiments/runner/figures.h) that its
// command (experiments/fig1.cpp, ...) runs through figure_main and `paper` can run in-process. Each
// writes results/figures/<name>/<name>.{png,svg,csv} (csv: the numbers behind the picture, per sample)
// and <name>_summary.csv (the per-tau summary it prints). The numbers come from
// experiments/analysis/prototypes.h; every model is evaluated at tau = 1 except where Eq. 6 asks for
// the training tau.
// - fig1: Eq. 6's weights in dL/df at the training tau: 1 - P_y, the largest negative's share of the
//   push, and the mean share by rank (the paper's Fig. 1 as numbers over the test set).
// - fig5: logits before and after PGD-20 (eps 8/255, CE at tau = 1) for a few samples per tau, and over
//   the attacked samples the mean change of the true-class logit and of the error-prone class's.
// - fig6: Euclidean distance and cosine similarity between f(x) and every prototype, for one sample.
// - fig7: box plots of the per-sample variance over the negative prototypes of the (range-mapped)
//   distance and of the cosine similarity.
// - eq10: the input gradient of CE at tau = 1: its norm, the weight Eq. 10 puts on the largest other
//   class, and the cosine between the gradient and the direction toward that class.
#pragma once

#include <vector>

#include "experiments/runner/figures.h"

namespace tg::runner {

FigureSpec fig1_spec();
FigureSpec fig5_spec();
FigureSpec fig6_spec();
FigureSpec fig7_spec();
FigureSpec eq10_spec();

// All five, in the paper's order (fig1, fig5, fig6, fig7, eq10).
std::vector<FigureSpec> prototype_figures();

}  // namespace tg::runner
