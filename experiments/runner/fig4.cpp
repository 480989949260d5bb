#include "experiments/runner/fig4.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "experiments/runner/progress.h"
#include "experiments/runner/results.h"
#include "experiments/runner/schema.h"
#include "util/error.h"

namespace tg::runner {

namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, sep);) cells.push_back(cell);
  return cells;
}

// The curves of the runs so far: errors[i] belongs to runs[i], ordered lr, tau, seed (fig4_runs).
std::vector<Fig4Curve> curves_of(const Fig4Options& o, const std::vector<std::vector<double>>& errors) {
  std::vector<Fig4Curve> curves;
  size_t i = 0;
  for (double lr : o.lrs)
    for (double tau : o.taus) {
      const std::vector<std::vector<double>> per_seed(errors.begin() + static_cast<std::ptrdiff_t>(i),
                                                      errors.begin() + static_cast<std::ptrdiff_t>(i + o.seeds.size()));
      curves.push_back(fig4_curve(lr, tau, per_seed));
      i += o.seeds.size();
    }
  return curves;
}

std::string subject_of(const TrainConfig& t) {
  std::string s = t.model + " on " + t.dataset;
  if (t.train_subset > 0) s += " (" + std::to_string(t.train_subset) + " images)";
  return s + ", " + t.optimizer;
}

}  // namespace

std::vector<TrainConfig> fig4_runs(const Fig4Options& o) {
  TG_CHECK(o.profile == "paper" || o.profile == "quick", "--profile must be quick or paper, got '", o.profile,
           "'");
  TG_CHECK(!o.taus.empty() && !o.lrs.empty() && !o.seeds.empty(),
           "give at least one value each with --taus, --lrs and --seeds");
  for (double tau : o.taus) TG_CHECK(tau > 0, "--taus: temperatures must be > 0, got ", tau);
  for (double lr : o.lrs) TG_CHECK(lr > 0, "--lrs: learning rates must be > 0, got ", lr);
  const bool quick = o.profile == "quick";
  TrainConfig t = o.train;
  resnet_profile(quick, o.given, t);
  if (quick) {  // CPU time measured in docs/ARCHITECTURE.md, "Figures"
    if (!o.given("epochs")) t.epochs = 3;
    if (!o.given("train-subset")) t.train_subset = 500;
    if (!o.given("test-subset")) t.test_subset = 500;
    if (!o.given("batch-size")) t.batch_size = 50;
  }
  t.out_dir = o.out_dir + "/runs";
  std::vector<TrainConfig> runs;
  for (double lr : o.lrs)
    for (double tau : o.taus)
      for (double seed : o.seeds) {
        TrainConfig c = t;
        c.lr = lr, c.tau = tau, c.seed = static_cast<int64_t>(seed);
        c.run_id = t.dataset + "_" + t.model + "_lr" + number_text(lr) + "_tau" + number_text(tau) + "_seed" +
                   std::to_string(c.seed);
        runs.push_back(c);
      }
  return runs;
}

std::vector<double> test_errors(const std::string& log_csv, const std::string& source) {
  std::stringstream in(log_csv);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split(line, ',');
  const auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    TG_CHECK(it != header.end(), source, ": no '", name, "' column in the header '", line,
             "' (a log.csv written by train has epoch and test_accuracy)");
    return static_cast<size_t>(it - header.begin());
  };
  const size_t epoch_at = column(schema::kEpoch), accuracy_at = column(schema::kTestAccuracy);
  std::vector<double> errors;
  for (int row = 2; std::getline(in, line); ++row) {
    if (line.empty()) continue;
    const std::vector<std::string> cells = split(line, ',');
    TG_CHECK(cells.size() == header.size(), source, ": line ", row, " has ", cells.size(), " cells, the header ",
             header.size());
    size_t used = 0;
    double epoch = 0, accuracy = 0;
    try {
      epoch = std::stod(cells[epoch_at], &used);
      accuracy = std::stod(cells[accuracy_at]);
    } catch (const std::exception&) {
      TG_FAIL(source, ": line ", row, ": epoch '", cells[epoch_at], "' and test_accuracy '", cells[accuracy_at],
              "' must be numbers");
    }
    TG_CHECK(epoch >= 1 && epoch == std::floor(epoch) && epoch < 1e7, source, ": line ", row, ": epoch '",
             cells[epoch_at], "' is not an epoch number (1, 2, ...)");
    const auto e = static_cast<size_t>(epoch);
    if (errors.size() < e) errors.resize(e, NAN);
    errors[e - 1] = 100 - accuracy;
  }
  return errors;
}

Fig4Curve fig4_curve(double lr, double tau, const std::vector<std::vector<double>>& errors_per_seed) {
  Fig4Curve c;
  c.lr = lr, c.tau = tau;
  size_t epochs = 0;
  for (const auto& e : errors_per_seed) epochs = std::max(epochs, e.size());
  for (size_t i = 0; i < epochs; ++i) {
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    int n = 0;
    for (const auto& e : errors_per_seed)
      if (i < e.size() && std::isfinite(e[i])) sum += e[i], lo = std::min(lo, e[i]), hi = std::max(hi, e[i]), ++n;
    c.mean.push_back(n > 0 ? sum / n : NAN);
    c.min.push_back(n > 0 ? lo : NAN);
    c.max.push_back(n > 0 ? hi : NAN);
    c.seeds.push_back(n);
  }
  return c;
}

Figure fig4_figure(const std::vector<Fig4Curve>& curves, const std::string& subject, size_t seeds) {
  Figure f;
  f.title = "Test error during training, " + subject + ": mean and min-max over " + std::to_string(seeds) +
            (seeds == 1 ? " seed" : " seeds");
  for (const Fig4Curve& c : curves) {
    auto panel = std::find_if(f.panels.begin(), f.panels.end(),
                              [&](const Panel& p) { return p.title == "learning rate " + number_text(c.lr); });
    if (panel == f.panels.end()) {
      f.panels.push_back({.title = "learning rate " + number_text(c.lr), .x_label = "epoch", .y_label = "test error (%)"});
      panel = f.panels.end() - 1;
    }
    Series s{.name = "τ = " + number_text(c.tau), .low = c.min, .high = c.max, .markers = c.mean.size() <= 30};
    for (size_t e = 0; e < c.mean.size(); ++e) s.x.push_back(static_cast<double>(e + 1));
    s.y = c.mean;
    panel->series.push_back(s);
  }
  f.columns = static_cast<int>(std::max<size_t>(1, f.panels.size()));
  return f;
}

std::string fig4_csv(const std::vector<Fig4Curve>& curves) {
  std::vector<std::vector<std::string>> rows;
  for (const Fig4Curve& c : curves)
    for (size_t e = 0; e < c.mean.size(); ++e)
      rows.push_back({number_text(c.lr), number_text(c.tau), std::to_string(e + 1), std::to_string(c.seeds[e]),
                      fixed(c.mean[e], 4), fixed(c.min[e], 4), fixed(c.max[e], 4)});
  return csv_table({"lr", "tau", "epoch", "seeds", "mean_test_error", "min_test_error", "max_test_error"}, rows);
}

void make_fig4(const Fig4Options& o) {
  const std::vector<TrainConfig> runs = fig4_runs(o);
  const std::string subject = subject_of(runs[0]), stem = o.out_dir + "/fig4";
  make_dirs(o.out_dir);
  std::fprintf(stderr, "fig4: %s, lr %s, tau %s, seeds %s: %zu runs -> %s\n", subject.c_str(),
               join_numbers(o.lrs).c_str(), join_numbers(o.taus).c_str(), join_numbers(o.seeds).c_str(), runs.size(),
               o.out_dir.c_str());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<double>> errors(runs.size());
  std::vector<Fig4Curve> curves;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::fprintf(stderr, "\nfig4: run %zu/%zu: lr %g, tau %g, seed %lld\n", i + 1, runs.size(), runs[i].lr,
                 runs[i].tau, static_cast<long long>(runs[i].seed));
    const TrainOutcome r = train(runs[i]);
    if (const std::string log = r.run_dir + "/" + schema::kLogFile; file_exists(log)) errors[i] = test_errors(read_file(log), log);
    curves = curves_of(o, errors);
    write_figure(stem, fig4_figure(curves, subject, o.seeds.size()));
    write_file_atomic(stem + ".csv", fig4_csv(curves));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\nFinal test error (%%), mean [min, max] over %zu seeds, %s:\n", o.seeds.size(), subject.c_str());
  for (const Fig4Curve& c : curves) {
    if (c.mean.empty()) continue;  // no epoch logged yet (--stop-after 0 cannot happen; a run paused before)
    std::printf("  lr %-6g tau %-5g %s [%s, %s] after %zu epochs\n", c.lr, c.tau, fixed(c.mean.back(), 2).c_str(),
                fixed(c.min.back(), 2).c_str(), fixed(c.max.back(), 2).c_str(), c.mean.size());
  }
  const std::string base = stem.substr(stem.find_last_of('/') + 1);
  std::printf("Wall time %s.\nWrote %s.png, %s.svg and %s.csv.\n", format_duration(seconds).c_str(), stem.c_str(),
              base.c_str(), base.c_str());
}

}  // namespace tg::runner
