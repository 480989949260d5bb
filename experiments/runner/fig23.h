// Figs. 2 and 3 of the paper: t-SNE of the penultimate features f(x) of test images, one panel per
// training temperature tau, coloured by class (Fig. 2: ResNet, table1's runs; Fig. 3: ViT, table2's).
// Beside each picture, the class separation of f(x) in its ORIGINAL space, which no embedding can
// distort: leave-one-out 5-NN accuracy and the mean silhouette (experiments/analysis/tsne.h).
//
// Writes into results/figures/<name>/: <name>.png and <name>.svg, <name>.csv (tau, sample, class, x, y:
// the embedding), <name>_separation.csv (per tau: status, samples, dim, knn_accuracy, silhouette, the
// final KL of the t-SNE and its seconds), and prints the separation table.
#pragma once

#include <string>
#include <vector>

#include "experiments/analysis/tsne.h"
#include "experiments/runner/figures.h"

namespace tg::runner {

// The most test images embedded (the paper shows 1,000-2,000): the first of those --samples analyses.
inline constexpr int64_t kTsneSamples = 2000;

// One tau's panel.
struct TsnePanel {
  double tau = 1;
  std::string status = "finished";  // "diverged": no features, an empty panel
  int64_t dim = 0;                  // of f(x)
  double knn_accuracy = NAN, silhouette = NAN;  // of f(x), k = 5
  std::vector<double> y;            // the embedding, [n, 2]
  double kl = NAN, seconds = 0;     // the t-SNE's last KL(P || Q) and its wall time
};

// The statistics and the embedding of one run's features [n, dim] of the images with these labels.
TsnePanel tsne_panel(double tau, const std::vector<double>& features, int64_t dim, const std::vector<int64_t>& labels,
                     const analysis::TsneOptions& options = {});

// Writes <dir>/<name>.{png,svg,csv} and <dir>/<name>_separation.csv; returns the separation table as
// Markdown. class_names may be empty (the classes are then numbered).
std::string write_tsne_figure(const std::string& dir, const std::string& name, const std::string& title,
                              const std::vector<TsnePanel>& panels, const std::vector<int64_t>& labels,
                              const std::vector<std::string>& class_names);

// The figures, as `paper` calls them: each tau's run (reused or trained), its f(x) of the first
// min(--samples, kTsneSamples) test images, tsne_panel, write_tsne_figure, the table printed.
void make_fig2(FigureContext& context);
void make_fig3(FigureContext& context);
FigureSpec fig2_spec();  // sweep table1
FigureSpec fig3_spec();  // sweep table2

}  // namespace tg::runner
