#include "experiments/runner/prototype_figures.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "attacks/evaluate.h"
#include "experiments/analysis/prototypes.h"
#include "experiments/runner/progress.h"

namespace tg::runner {

using analysis::Summary;

namespace {

constexpr int64_t kBatch = 256;

std::vector<double> host_f64(const Tensor& t) { return t.cpu().to(DType::f64).to_vector<double>(); }

std::string g6(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string tau_label(double tau) { return "τ = " + number_text(tau); }

// f(x), z and W of the first `count` analysed test images, on the host in float64.
struct Outputs {
  int64_t n = 0, dim = 0, classes = 0;
  std::vector<double> features, logits, weight;  // [n, dim], [n, classes], [classes, dim]
  std::vector<int64_t> labels;
};

Outputs outputs(const FigureContext& c, nn::Classifier& model, int64_t count) {
  NoGradGuard no_grad;
  Outputs o;
  o.n = count;
  for (int64_t b = 0; b < count; b += kBatch) {
    const Tensor f = model.features(Variable(c.pixels(b, std::min(b + kBatch, count)))).data();
    const Tensor z = model.classifier().forward(Variable(f)).data();
    const std::vector<double> fh = host_f64(f), zh = host_f64(z);
    o.features.insert(o.features.end(), fh.begin(), fh.end());
    o.logits.insert(o.logits.end(), zh.begin(), zh.end());
  }
  o.weight = host_f64(model.classifier().weight.data());
  o.classes = model.classifier().weight.size(0);
  o.dim = model.classifier().weight.size(1);
  o.labels = c.test().labels.slice_rows(0, count).to(DType::i64).to_vector<int64_t>();
  return o;
}

// The header and cells of a Summary in the summary CSVs and printed tables.
const std::vector<std::string> kSummaryHeader = {"count", "mean", "min", "p10", "p25", "median", "p75", "p90", "max"};
std::vector<std::string> summary_cells(const Summary& s) {
  std::vector<std::string> cells = {std::to_string(s.count)};
  for (double v : {s.mean, s.min, s.p10, s.p25, s.median, s.p75, s.p90, s.max}) cells.push_back(g6(v));
  return cells;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What every figure ends with: the per-sample CSV, the summary CSV (also printed), the picture.
void finish(const FigureContext& c, const Figure& figure, const std::vector<std::string>& header,
            const std::vector<std::vector<std::string>>& rows, const std::vector<std::string>& summary_header,
            const std::vector<std::vector<std::string>>& summary, std::chrono::steady_clock::time_point t0) {
  c.write_csv(c.name() + ".csv", header, rows);
  c.write_csv(c.name() + "_summary.csv", summary_header, summary);
  c.write_figure(figure);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n%s: %s\n\n%s\n", c.name().c_str(), figure.title.c_str(), markdown_table(summary_header, summary).c_str());
  std::printf("%s on %s (%s), %lld test images; wall time %s.\nWrote %s/%s.png, %s.svg, %s.csv and %s_summary.csv.\n",
              c.name().c_str(), c.train_config().dataset.c_str(), c.train_config().model.c_str(),
              static_cast<long long>(c.test().size()), format_duration(seconds).c_str(), c.out_dir().c_str(),
              c.name().c_str(), c.name().c_str(), c.name().c_str(), c.name().c_str());
}

std::string model_text(const FigureContext& c) { return c.train_config().model + " on " + c.train_config().dataset; }

std::vector<std::string> class_numbers(int64_t classes) {
  std::vector<std::string> v;
  for (int64_t j = 0; j < classes; ++j) v.push_back(std::to_string(j));
  return v;
}

// ---- Fig. 1 ----

void make_fig1(FigureContext& c) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<std::string>> rows, summary;
  Panel ranks{.title = "Push from the negatives, by rank (mean)",
              .x_label = "rank of the negative prototype (1 = largest P_j)",
              .y_label = "P_j / (1 - P_y)"};
  Panel top{.title = "Share of the largest negative", .x_label = "training τ", .y_label = "max_j P_j / (1 - P_y)"};
  Panel positive{.title = "Weight of the positive prototype", .x_label = "training τ",
                 .y_label = "log10(1 - P_y), floored at -30"};
  int64_t classes = 0;
  c.each_run([&](const TrainedRun& r) {
    const Outputs o = outputs(c, *r.model, c.test().size());
    classes = o.classes;
    const analysis::Eq6Distribution d = analysis::eq6_distribution(o.logits, o.labels, o.classes, r.tau);
    for (int64_t i = 0; i < o.n; ++i)
      rows.push_back({number_text(r.tau), std::to_string(i), std::to_string(o.labels[i]), g6(d.positive[i]),
                      g6(d.top_share[i])});
    summary.push_back(concat({number_text(r.tau), "positive weight 1 - P_y"}, summary_cells(analysis::summarize(d.positive))));
    summary.push_back(concat({number_text(r.tau), "top negative share"}, summary_cells(analysis::summarize(d.top_share))));
    Series by_rank{.name = tau_label(r.tau)};
    for (size_t k = 0; k < d.mean_share_by_rank.size(); ++k) {
      by_rank.x.push_back(static_cast<double>(k + 1));
      by_rank.y.push_back(d.mean_share_by_rank[k]);
    }
    ranks.series.push_back(by_rank);
    top.boxes.push_back({.name = tau_label(r.tau), .values = d.top_share});
    std::vector<double> log_positive;
    for (double p : d.positive) log_positive.push_back(std::log10(std::max(p, 1e-30)));
    positive.boxes.push_back({.name = tau_label(r.tau), .values = log_positive});
  });
  if (classes > 1)
    ranks.series.push_back({.name = "uniform 1/(C - 1)", .x = {1, static_cast<double>(classes - 1)},
                            .y = {1.0 / (classes - 1), 1.0 / (classes - 1)}, .markers = false});
  Figure figure{.title = "Eq. 6 at the training τ: prototype weights in dL/df, " + model_text(c) + ", " +
                         std::to_string(c.test().size()) + " test images",
                .panels = {ranks, top, positive}, .columns = 3};
  finish(c, figure, {"tau", "sample", "label", "positive_weight", "top_negative_share"}, rows,
         concat({"tau", "quantity"}, kSummaryHeader), summary, t0);
}

// ---- Fig. 5 ----

// Clean and attacked logits of test rows [begin, end), on the host.
std::pair<std::vector<double>, std::vector<double>> attacked_logits(const FigureContext& c, nn::Classifier& model,
                                                                    int64_t begin, int64_t end, Generator& gen) {
  const attacks::ModelFn fn = attacks::as_model_fn(model);
  std::vector<double> clean, adversarial;
  for (int64_t b = begin; b < end; b += kBatch) {
    const int64_t e = std::min(b + kBatch, end);
    const Tensor x = c.pixels(b, e), y = c.labels(b, e);
    const Tensor x_adv = attacks::pgd(fn, x, y, attacks::pgd20_options(), gen).x_adv;
    const std::vector<double> z = host_f64(attacks::logits_no_grad(fn, x));
    const std::vector<double> za = host_f64(attacks::logits_no_grad(fn, x_adv));
    clean.insert(clean.end(), z.begin(), z.end());
    adversarial.insert(adversarial.end(), za.begin(), za.end());
  }
  return {clean, adversarial};
}

int64_t argmax_row(const std::vector<double>& z, int64_t row, int64_t classes) {
  const auto first = z.begin() + row * classes;
  return std::max_element(first, first + classes) - first;
}

void make_fig5(FigureContext& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int64_t> examples = c.example_indices();
  const int64_t n = c.test().size();
  const int64_t attacked = c.options().attack_samples > 0 ? std::min(c.options().attack_samples, n) : n;
  const std::vector<int64_t> labels = c.test().labels.to(DType::i64).to_vector<int64_t>();
  std::vector<std::vector<std::string>> rows, summary;
  std::vector<Panel> panels;
  Panel shift{.title = "Mean logit change under PGD-20 (" + std::to_string(attacked) + " test images)",
              .x_label = "training τ", .y_label = "change / clean logit range"};
  BarGroup true_bars{.name = "true class z_y"}, other_bars{.name = "error-prone class z_k"};
  c.each_run([&](const TrainedRun& r) {
    Generator gen(static_cast<uint64_t>(c.train_config().seed));
    const auto [z, za] = attacked_logits(c, *r.model, examples.front(), examples.back() + 1, gen);
    const int64_t classes = static_cast<int64_t>(z.size()) / static_cast<int64_t>(examples.size());
    for (size_t e = 0; e < examples.size(); ++e) {
      const int64_t i = examples[e], y = labels[i];
      Panel p{.title = tau_label(r.tau) + ", sample " + std::to_string(i) + " (" + c.class_name(y) + ") -> " +
                       c.class_name(argmax_row(za, static_cast<int64_t>(e), classes)),
              .x_label = "class (label " + std::to_string(y) + ")", .y_label = "logit z_j"};
      p.categories = class_numbers(classes);
      BarGroup clean{.name = "clean"}, adv{.name = "PGD-20"};
      for (int64_t j = 0; j < classes; ++j) {
        clean.values.push_back(z[e * classes + j]);
        adv.values.push_back(za[e * classes + j]);
        rows.push_back({number_text(r.tau), std::to_string(i), std::to_string(y), std::to_string(j),
                        g6(z[e * classes + j]), g6(za[e * classes + j])});
      }
      p.bars = {clean, adv};
      panels.push_back(p);
    }
    const auto [zs, zas] = attacked_logits(c, *r.model, 0, attacked, gen);
    const std::vector<int64_t> ys(labels.begin(), labels.begin() + attacked);
    const analysis::LogitShift s = analysis::logit_shift(zs, zas, ys, classes);
    summary.push_back({number_text(r.tau), std::to_string(s.count), g6(s.true_change), g6(s.other_change),
                       g6(s.true_change_rel), g6(s.other_change_rel), g6(s.clean_margin), g6(s.flipped)});
    shift.categories.push_back(tau_label(r.tau));
    true_bars.values.push_back(s.true_change_rel);
    other_bars.values.push_back(s.other_change_rel);
  });
  shift.bars = {true_bars, other_bars};
  panels.push_back(shift);
  Figure figure{.title = "Logits before and after PGD-20 (ε = 8/255, CE at τ = 1), " + model_text(c),
                .panels = panels, .columns = static_cast<int>(examples.size())};
  finish(c, figure, {"tau", "sample", "label", "class", "clean_logit", "pgd20_logit"}, rows,
         {"tau", "attacked", "true_change", "error_prone_change", "true_change_rel", "error_prone_change_rel",
          "clean_margin", "flipped"},
         summary, t0);
}

// ---- Fig. 6 ----

void make_fig6(FigureContext& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int64_t> examples = c.example_indices();
  std::vector<std::vector<std::string>> rows, summary;
  std::vector<Panel> distance_panels, cosine_panels;
  c.each_run([&](const TrainedRun& r) {
    const Outputs o = outputs(c, *r.model, examples.back() + 1);
    for (int64_t i : examples) {
      const int64_t y = o.labels[i];
      const analysis::PrototypeGeometry g =
          analysis::prototype_geometry(o.features.data() + i * o.dim, o.weight, o.classes, o.dim);
      std::vector<double> neg_distance, neg_cosine;
      for (int64_t j = 0; j < o.classes; ++j) {
        rows.push_back({number_text(r.tau), std::to_string(i), std::to_string(y), std::to_string(j),
                        g6(g.distance[j]), g6(g.cosine[j])});
        if (j != y) neg_distance.push_back(g.distance[j]), neg_cosine.push_back(g.cosine[j]);
      }
      const Summary d = analysis::summarize(neg_distance), cs = analysis::summarize(neg_cosine);
      summary.push_back({number_text(r.tau), std::to_string(i), std::to_string(y), g6(g.distance[y]), g6(d.min),
                         g6(d.max), g6(g.cosine[y]), g6(cs.min), g6(cs.max)});
      if (i != examples.front()) continue;  // the picture shows the first example
      const std::string who = "sample " + std::to_string(i) + " (" + c.class_name(y) + ")";
      Panel dp{.title = tau_label(r.tau) + ": distance, " + who, .x_label = "prototype j (label " + std::to_string(y) + ")",
               .y_label = "||f(x) - w_j||"};
      Panel cp{.title = tau_label(r.tau) + ": cosine, " + who, .x_label = dp.x_label, .y_label = "cos(f(x), w_j)"};
      dp.categories = cp.categories = class_numbers(o.classes);
      dp.bars = {{.name = "distance", .values = g.distance}};
      cp.bars = {{.name = "cosine", .values = g.cosine}};
      distance_panels.push_back(dp);
      cosine_panels.push_back(cp);
    }
  });
  std::vector<Panel> panels = distance_panels;
  panels.insert(panels.end(), cosine_panels.begin(), cosine_panels.end());
  Figure figure{.title = "Distance and cosine between f(x) and each class prototype w_j, " + model_text(c),
                .panels = panels, .columns = std::max<int>(1, static_cast<int>(distance_panels.size()))};
  finish(c, figure, {"tau", "sample", "label", "prototype", "distance", "cosine"}, rows,
         {"tau", "sample", "label", "distance_to_label", "min_negative_distance", "max_negative_distance",
          "cosine_to_label", "min_negative_cosine", "max_negative_cosine"},
         summary, t0);
}

// ---- Fig. 7 ----

void make_fig7(FigureContext& c) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<std::string>> rows, summary;
  const std::string boxes = "training τ (line: median, marker: mean)";
  Panel distance{.title = "Variance of the distance to the negatives", .x_label = boxes,
                 .y_label = "variance of distance mapped to [0, 1]"};
  Panel cosine{.title = "Variance of the cosine to the negatives", .x_label = boxes,
               .y_label = "variance of cos(f(x), w_j)"};
  c.each_run([&](const TrainedRun& r) {
    const Outputs o = outputs(c, *r.model, c.test().size());
    const analysis::NegativeSpread s = analysis::negative_spread(o.features, o.labels, o.weight, o.classes, o.dim);
    for (int64_t i = 0; i < o.n; ++i)
      rows.push_back({number_text(r.tau), std::to_string(i), std::to_string(o.labels[i]), g6(s.distance_variance[i]),
                      g6(s.cosine_variance[i])});
    const std::string range = g6(s.distance_min) + " .. " + g6(s.distance_max);
    summary.push_back(concat({number_text(r.tau), "distance variance (mapped)", range},
                             summary_cells(analysis::summarize(s.distance_variance))));
    summary.push_back(concat({number_text(r.tau), "cosine variance", ""}, summary_cells(analysis::summarize(s.cosine_variance))));
    distance.boxes.push_back({.name = tau_label(r.tau), .values = s.distance_variance});
    cosine.boxes.push_back({.name = tau_label(r.tau), .values = s.cosine_variance});
  });
  Figure figure{.title = "Variance over the negative prototypes, " + model_text(c) + ", " +
                         std::to_string(c.test().size()) + " test images",
                .panels = {distance, cosine}, .columns = 2, .panel_width = 520};
  finish(c, figure, {"tau", "sample", "label", "distance_variance_mapped", "cosine_variance"}, rows,
         concat({"tau", "quantity", "distance_range"}, kSummaryHeader), summary, t0);
}

// ---- Eq. 10 ----

void make_eq10(FigureContext& c) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<std::string>> rows, summary;
  Panel norm{.title = "Input-gradient norm (nonzero ones)", .x_label = "training τ", .y_label = "log10 ||dCE/dx||_2"};
  Panel zero{.title = "Inputs by their float32 gradient", .x_label = "training τ", .y_label = "fraction of test images"};
  Panel share{.title = "Weight on the largest other class k", .x_label = "training τ", .y_label = "P_k / (1 - P_y)"};
  Panel cosine{.title = "Direction: cos(dCE/dx, d(z_k - z_y)/dx)", .x_label = "training τ", .y_label = "cosine"};
  BarGroup zero_bars{.name = "exactly 0"}, nonzero_bars{.name = "nonzero"};
  const int64_t n = c.test().size();
  c.each_run([&](const TrainedRun& r) {
    analysis::InputGradients all;
    for (int64_t b = 0; b < n; b += kBatch) {
      const int64_t e = std::min(b + kBatch, n);
      const analysis::InputGradients g = analysis::eq10_input_gradients(*r.model, c.pixels(b, e), c.labels(b, e));
      all.norm.insert(all.norm.end(), g.norm.begin(), g.norm.end());
      all.share.insert(all.share.end(), g.share.begin(), g.share.end());
      all.cosine.insert(all.cosine.end(), g.cosine.begin(), g.cosine.end());
    }
    const std::vector<int64_t> labels = c.test().labels.to(DType::i64).to_vector<int64_t>();
    std::vector<double> log_norm;
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; ++i) {
      rows.push_back({number_text(r.tau), std::to_string(i), std::to_string(labels[i]), g6(all.norm[i]),
                      g6(all.share[i]), g6(all.cosine[i])});
      if (all.norm[i] > 0) log_norm.push_back(std::log10(all.norm[i]));
      else ++zeros;
    }
    const double zero_fraction = static_cast<double>(zeros) / static_cast<double>(n);
    summary.push_back(concat({number_text(r.tau), "gradient norm", g6(zero_fraction)}, summary_cells(analysis::summarize(all.norm))));
    summary.push_back(concat({number_text(r.tau), "share P_k/(1-P_y)", g6(zero_fraction)}, summary_cells(analysis::summarize(all.share))));
    summary.push_back(concat({number_text(r.tau), "cosine (nonzero gradients)", g6(zero_fraction)},
                             summary_cells(analysis::summarize(all.cosine))));
    norm.boxes.push_back({.name = tau_label(r.tau), .values = log_norm});
    share.boxes.push_back({.name = tau_label(r.tau), .values = all.share});
    std::vector<double> defined;
    std::copy_if(all.cosine.begin(), all.cosine.end(), std::back_inserter(defined), [](double v) { return !std::isnan(v); });
    cosine.boxes.push_back({.name = tau_label(r.tau), .values = defined});
    zero.categories.push_back(tau_label(r.tau));
    zero_bars.values.push_back(zero_fraction);
    nonzero_bars.values.push_back(1 - zero_fraction);
  });
  zero.bars = {zero_bars, nonzero_bars};
  Figure figure{.title = "Eq. 10 measured: dCE/dx at τ = 1, " + model_text(c) + ", " + std::to_string(n) +
                         " test images",
                .panels = {norm, zero, share, cosine}, .columns = 2, .panel_width = 520};
  finish(c, figure, {"tau", "sample", "label", "grad_norm", "share_largest_other", "cosine_to_largest_other"}, rows,
         concat({"tau", "quantity", "zero_gradient_fraction"}, kSummaryHeader), summary, t0);
}

}  // namespace

FigureSpec fig1_spec() {
  return {"fig1",
          "Fig. 1 / Eq. 6 as numbers: for each training tau, the weight of the positive prototype (1 - P_y) and how\n"
          "the push away from the negatives splits among them (P_j / (1 - P_y)), P = softmax(z / tau), over the\n"
          "test images; writes results/figures/fig1/. Example: fig1 --profile quick",
          make_fig1};
}

FigureSpec fig5_spec() {
  return {"fig5",
          "Fig. 5: logits before and after PGD-20 (eps 8/255, CE at tau = 1) for --examples test images per\n"
          "training tau, and the mean change of the true-class and error-prone-class logits over --attack-samples\n"
          "images; writes results/figures/fig5/. Example: fig5 --profile quick",
          make_fig5};
}

FigureSpec fig6_spec() {
  return {"fig6",
          "Fig. 6: Euclidean distance and cosine similarity between f(x) and every class prototype w_j for one\n"
          "test image (--first-example), per training tau (the CSV has all --examples); writes\n"
          "results/figures/fig6/. Example: fig6 --profile quick",
          make_fig6};
}

FigureSpec fig7_spec() {
  return {"fig7",
          "Fig. 7: box plots over the test images of the per-sample variance, across the negative prototypes, of\n"
          "the distance (mapped to [0, 1] per model) and of the cosine similarity between f(x) and w_j, per\n"
          "training tau; writes results/figures/fig7/. Example: fig7 --profile quick",
          make_fig7};
}

FigureSpec eq10_spec() {
  return {"eq10",
          "Eq. 10 measured: per training tau, the input gradient of CE at tau = 1 over the test images: its norm,\n"
          "the fraction that is exactly zero, the weight P_k / (1 - P_y) on the largest other class k and the\n"
          "cosine between the gradient and d(z_k - z_y)/dx; writes results/figures/eq10/. Example: eq10 --profile quick",
          make_eq10};
}

std::vector<FigureSpec> prototype_figures() { return {fig1_spec(), fig5_spec(), fig6_spec(), fig7_spec(), eq10_spec()}; }

}  // namespace tg::runner
