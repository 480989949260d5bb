#include "experiments/runner/fig23.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "autograd/variable.h"
#include "experiments/runner/plot.h"
#include "experiments/runner/results.h"

namespace tg::runner {

namespace {

// f(x) of the context's first n test images, [n, dim] as doubles, a batch at a time.
std::vector<double> host_features(nn::Classifier& model, const FigureContext& context, int64_t n, int64_t& dim) {
  constexpr int64_t batch = 100;
  std::vector<double> out;
  NoGradGuard no_grad;
  for (int64_t b = 0; b < n; b += batch) {
    const Tensor f = model.features(Variable(context.pixels(b, std::min(n, b + batch)))).data();
    dim = f.size(1);
    const std::vector<double> part = f.cpu().to(DType::f64).to_vector<double>();
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

// One panel per tau for every run of the context, the figure written and its table printed.
void make_tsne_figure(FigureContext& context, const std::string& title) {
  const Dataset& test = context.test();
  const int64_t n = std::min(test.size(), kTsneSamples);
  const std::vector<int64_t> all = test.labels.cpu().to_vector<int64_t>();
  const std::vector<int64_t> labels(all.begin(), all.begin() + n);
  analysis::TsneOptions options;
  options.seed = context.train_config().seed;

  std::vector<TsnePanel> panels;
  for (double tau : context.taus()) {
    const TrainedRun run = context.run(tau);
    if (!run.model) {
      TsnePanel diverged;
      diverged.tau = tau;
      diverged.status = run.status;
      panels.push_back(diverged);
      continue;
    }
    int64_t dim = 0;
    const std::vector<double> features = host_features(*run.model, context, n, dim);
    std::fprintf(stderr, "%s: tau %s: t-SNE of %lld features of dimension %lld\n", context.name().c_str(),
                 number_text(tau).c_str(), static_cast<long long>(n), static_cast<long long>(dim));
    panels.push_back(tsne_panel(tau, features, dim, labels, options));
  }
  const TrainConfig& t = context.train_config();
  const std::string table = write_tsne_figure(context.out_dir(), context.name(),
                                              title + ": t-SNE of f(x), " + t.model + " on " + t.dataset, panels,
                                              labels, test.class_names);
  const char* name = context.name().c_str();
  std::printf("%s\nWrote %s.png, %s.svg, %s.csv and %s_separation.csv.\n", table.c_str(),
              context.path(context.name()).c_str(), name, name, name);
}

}  // namespace

TsnePanel tsne_panel(double tau, const std::vector<double>& features, int64_t dim, const std::vector<int64_t>& labels,
                     const analysis::TsneOptions& options) {
  const int64_t n = static_cast<int64_t>(labels.size());
  TsnePanel p;
  p.tau = tau;
  p.dim = dim;
  p.knn_accuracy = analysis::knn_accuracy(features, n, dim, labels, 5);
  p.silhouette = analysis::silhouette(features, n, dim, labels);
  const auto start = std::chrono::steady_clock::now();
  analysis::TsneResult r = analysis::tsne(features, n, dim, options);
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  p.y = std::move(r.y);
  if (!r.kl.empty()) p.kl = r.kl.back();
  return p;
}

std::string write_tsne_figure(const std::string& dir, const std::string& name, const std::string& title,
                              const std::vector<TsnePanel>& panels, const std::vector<int64_t>& labels,
                              const std::vector<std::string>& class_names) {
  const int64_t n = static_cast<int64_t>(labels.size());
  const int64_t classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  Figure figure;
  figure.title = title;
  figure.columns = static_cast<int>(std::min<size_t>(panels.size(), 4));
  figure.panel_width = figure.panel_height = 300;
  std::vector<std::vector<std::string>> points, separation;
  bool legend_drawn = false;
  for (const TsnePanel& p : panels) {
    Panel panel;
    panel.title = "τ = " + number_text(p.tau);
    if (p.status == "finished") {
      TG_CHECK(static_cast<int64_t>(p.y.size()) == 2 * n, "write_tsne_figure: the panel at tau ", p.tau, " has ",
               p.y.size() / 2, " points for ", n, " labels");
      panel.title += ": 5-NN " + fixed(100 * p.knn_accuracy, 1) + "%, silhouette " + fixed(p.silhouette, 2);
      panel.scatter.resize(classes);
      for (int64_t c = 0; c < classes && !legend_drawn; ++c)  // the legend once, in the first panel with points
        panel.scatter[c].name = c < int64_t(class_names.size()) ? class_names[c] : std::to_string(c);
      legend_drawn = true;
      for (int64_t i = 0; i < n; ++i) {
        panel.scatter[labels[i]].x.push_back(p.y[2 * i]);
        panel.scatter[labels[i]].y.push_back(p.y[2 * i + 1]);
        points.push_back({number_text(p.tau), std::to_string(i), std::to_string(labels[i]), fixed(p.y[2 * i], 6),
                          fixed(p.y[2 * i + 1], 6)});
      }
    } else {
      panel.title += ": " + p.status;
    }
    figure.panels.push_back(std::move(panel));
    separation.push_back({number_text(p.tau), p.status, std::to_string(p.y.size() / 2), std::to_string(p.dim),
                          fixed(p.knn_accuracy, 4), fixed(p.silhouette, 4), fixed(p.kl, 4), fixed(p.seconds, 1)});
  }
  make_dirs(dir);
  const std::string stem = dir + "/" + name;
  write_figure(stem, figure);
  write_file_atomic(stem + ".csv", csv_table({"tau", "sample", "class", "x", "y"}, points));
  const std::vector<std::string> header = {"tau", "status", "samples", "dim", "knn_accuracy", "silhouette", "tsne_kl",
                                           "tsne_seconds"};
  write_file_atomic(stem + "_separation.csv", csv_table(header, separation));
  return markdown_table(header, separation);
}

void make_fig2(FigureContext& context) { make_tsne_figure(context, "Fig. 2"); }
void make_fig3(FigureContext& context) { make_tsne_figure(context, "Fig. 3"); }

FigureSpec fig2_spec() {
  FigureSpec spec;
  spec.name = "fig2";
  spec.summary =
      "Fig. 2: t-SNE of the penultimate features f(x) of test images (the first min(--samples, 2000)), one panel\n"
      "per training temperature tau, coloured by class, for table1's ResNet runs (reused; missing ones trained).\n"
      "Prints and writes per tau the 5-NN accuracy and silhouette of f(x) in its own space.\n"
      "  --profile quick: table1 --profile quick's runs (ResNet-20, Fashion-MNIST, tau 1,10,50), 1000 images.\n"
      "  --profile paper: ResNet-50 on CIFAR-10, tau 0.1..100, 2000 images.\n"
      "Example: fig2 --profile quick";
  spec.make = make_fig2;
  return spec;
}

FigureSpec fig3_spec() {
  FigureSpec spec;
  spec.name = "fig3";
  spec.summary =
      "Fig. 3: Fig. 2 for the ViT: t-SNE of f(x) (the class token after the last norm) per training temperature,\n"
      "for table2's runs (reused; missing ones trained).\n"
      "  --profile quick: table2 --profile quick's runs (ViT-Ti/4 at 32 from scratch, Fashion-MNIST, tau 1,50,\n"
      "    2 epochs on 2k images), its 500 test images.\n"
      "  --profile paper: ViT-S/16 fine-tuned on CIFAR-10 (pass table2's --init checkpoint), 2000 images.\n"
      "Example: fig3 --profile quick";
  spec.make = make_fig3;
  spec.sweep = "table2";
  return spec;
}

}  // namespace tg::runner
