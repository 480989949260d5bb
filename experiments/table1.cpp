// table1: the paper's Table I on the user's data: for each training temperature tau (and seed), trains a
// model with CE(z / tau, y) (a finished run is reused, a killed one resumed), evaluates it at tau = 1
// (experiments/runner/evaluation.h: clean, -C, PGD-20, C&W, then APGD-CE, APGD-DLR, APGD-T, Square,
// the worst case, gradient-masking diagnostics and calibration), and writes into the sweep's folder
// (default results/table1/<dataset>_<model>/): the runs, table.md, table.csv and table.png (one panel
// per column against tau, log scale), rewritten atomically after every run. A diverged run shows as
// "diverged" in its row and the sweep goes on. Prints the Markdown table at the end.
//   --profile paper: ResNet-50 (CIFAR stem), SGD lr 0.1 momentum 0.9 wd 5e-4, cosine, 200 epochs, batch
//     128, every test image attacked with the references' budgets, severities 1-5, eps sweep.
//   --profile quick: Fashion-MNIST, ResNet-20, tau 1, 10, 50, 2 epochs on 10k images, 2k test images,
//     attacks on 200 of them (APGD 25 iterations, Square 300 queries), generated -C at severity 3.
// Explicit flags override the profile.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "experiments/runner/evaluation.h"
#include "experiments/runner/plot.h"
#include "experiments/runner/progress.h"
#include "experiments/runner/training.h"
#include "tensor/error.h"

using namespace tg;
using namespace tg::runner;

namespace {

struct Options {
  std::string profile = "paper";
  std::vector<double> taus = {0.1, 0.5, 1, 10, 30, 50, 70, 100};
  std::vector<double> seeds;  // empty = --seed
};

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// The profile's defaults for every setting the user did not give.
void apply_profile(const std::string& profile, const std::vector<std::string>& set, Options& o, TrainConfig& t,
                   EvalConfig& e) {
  auto given = [&](const char* name) { return std::find(set.begin(), set.end(), name) != set.end(); };
  TG_CHECK(profile == "paper" || profile == "quick", "--profile must be quick or paper, got '", profile, "'");
  if (profile == "paper") {
    if (!given("dataset")) t.dataset = "cifar10";
    if (!given("model")) t.model = "resnet50_cifar";
    if (!given("epochs")) t.epochs = 200;
    if (!given("sweep-eps"))
      for (double v : attacks::default_sweep_eps()) e.sweep_eps.push_back(std::round(v * 255));
    return;
  }
  if (!given("dataset")) t.dataset = "fashion-mnist";
  if (!given("model")) t.model = "resnet20";
  if (!given("taus")) o.taus = {1, 10, 50};
  if (!given("epochs")) t.epochs = 2;
  if (!given("train-subset")) t.train_subset = 10000;
  if (!given("test-subset")) t.test_subset = 2000;
  if (!given("attack-subset")) e.attack_subset = 200;
  if (!given("apgd-iters")) e.apgd_iters = 25;
  if (!given("square-queries")) e.square_queries = 300;
  if (!given("severities")) e.severities = {3};
}

void write_table(const std::string& dir, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  write_file_atomic(dir + "/table.md", markdown_table(header, rows));
  write_file_atomic(dir + "/table.csv", csv_table(header, rows));
}

// One panel per column, value against tau; a series per seed.
void write_plot(const std::string& path, const std::vector<std::string>& columns, const std::vector<double>& seeds,
                const std::vector<std::vector<std::pair<double, std::vector<double>>>>& per_seed) {
  std::vector<Panel> panels;
  for (size_t k = 0; k < columns.size(); ++k) {
    Panel p;
    p.title = columns[k];
    p.x_label = "tau (training temperature)";
    p.y_label = columns[k];
    p.log_x = true;
    for (size_t s = 0; s < seeds.size(); ++s) {
      Series series{"seed " + number_text(seeds[s]), {}, {}};
      for (const auto& [tau, values] : per_seed[s]) series.x.push_back(tau), series.y.push_back(values[k]);
      p.series.push_back(series);
    }
    panels.push_back(p);
  }
  write_plot_png(path, panels, 4);
}

int run(Options o, TrainConfig t, EvalConfig e, const std::vector<std::string>& set) {
  auto given = [&](const char* name) { return std::find(set.begin(), set.end(), name) != set.end(); };
  TG_CHECK(!given("tau"), "table1: give the temperatures with --taus (e.g. --taus 1,10,50), not --tau");
  TG_CHECK(!given("run-id"), "table1: --run-id does not apply (each run is named by its tau and seed)");
  apply_profile(o.profile, set, o, t, e);
  TG_CHECK(!o.taus.empty(), "--taus: give at least one temperature");
  for (double tau : o.taus) TG_CHECK(tau > 0, "--taus: temperatures must be > 0, got ", tau);
  if (o.seeds.empty()) o.seeds = {static_cast<double>(t.seed)};
  if (!given("out-dir")) t.out_dir = "results/table1/" + t.dataset + "_" + t.model;
  e.device = t.device;
  validate(e);
  const std::string dir = t.out_dir;
  make_dirs(dir);
  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "table1: %s, %s, tau %s, seeds %s -> %s\n", t.dataset.c_str(), t.model.c_str(),
               join_numbers(o.taus).c_str(), join_numbers(o.seeds).c_str(), dir.c_str());

  // The -C sets are built once for the sweep, and only when some run still needs them.
  std::vector<CorruptedSet> corrupted;
  bool corrupted_built = false;

  const std::vector<std::string> columns = table_columns(e);
  std::vector<std::string> header = {"tau"};
  if (o.seeds.size() > 1) header.push_back("seed");
  header.insert(header.end(), columns.begin(), columns.end());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::pair<double, std::vector<double>>>> per_seed(o.seeds.size());
  const int64_t total = static_cast<int64_t>(o.taus.size() * o.seeds.size());
  int64_t index = 0;
  for (double tau : o.taus) {
    for (size_t s = 0; s < o.seeds.size(); ++s) {
      TrainConfig tc = t;
      tc.tau = tau;
      tc.seed = static_cast<int64_t>(o.seeds[s]);
      EvalConfig ec = e;
      ec.seed = tc.seed;
      std::fprintf(stderr, "\ntable1: run %lld/%lld: tau %g seed %lld\n", static_cast<long long>(++index),
                   static_cast<long long>(total), tau, static_cast<long long>(tc.seed));
      TrainOutcome r = train(tc);
      std::vector<std::string> row = {number_text(tau)};
      if (o.seeds.size() > 1) row.push_back(number_text(o.seeds[s]));
      if (r.paused) {  // --stop-after: no evaluation yet
        row.insert(row.end(), columns.size(), "training");
        rows.push_back(row);
        continue;
      }
      if (r.status == "finished" && !corrupted_built && !evaluation_done(r.run_dir, ec)) {
        corrupted = corrupted_sets(load_split(tc, false), ec);
        corrupted_built = true;
      }
      Evaluation ev = evaluate_run(r.run_dir, ec, &corrupted);
      const auto cells = table_cells(ev, ec);
      row.insert(row.end(), cells.begin(), cells.end());
      rows.push_back(row);
      per_seed[s].emplace_back(tau, table_values(ev, ec));
      write_table(dir, header, rows);
      write_plot(dir + "/table.png", columns, o.seeds, per_seed);
    }
  }
  write_table(dir, header, rows);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n%s\n", markdown_table(header, rows).c_str());
  std::printf("Evaluated at tau = 1 on %s (%s); attacks at eps %g/255 on %s test images; wall time %s.\n",
              t.dataset.c_str(), t.model.c_str(), e.eps,
              e.attack_subset > 0 ? std::to_string(e.attack_subset).c_str() : "all", format_duration(seconds).c_str());
  std::printf("Wrote %s/table.md, table.csv and table.png.\n", dir.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  TrainConfig t;
  EvalConfig e;
  Flags f("table1",
          "Table I: trains a model at each temperature tau with CE(z / tau, y), evaluates each at tau = 1 (clean, -C,\n"
          "PGD-20, C&W, APGD-CE, APGD-DLR, APGD-T, Square, worst case, masking diagnostics, calibration) and writes\n"
          "table.md, table.csv and table.png. Finished runs are reused, killed ones resumed.\n"
          "Example: table1 --profile quick");
  f.add("profile", &o.profile, "paper (ResNet-50 on CIFAR-10, 200 epochs, full attacks) | quick (Fashion-MNIST, "
                               "ResNet-20, tau 1,10,50, 2 epochs on 10k images, attacks on 200 test images); "
                               "explicit flags override it");
  f.add("taus", &o.taus, "training temperatures");
  f.add("seeds", &o.seeds, "seeds (one run per tau and seed; empty = --seed)");
  add_train_flags(f, t);
  add_eval_flags(f, e);
  try {
    std::vector<std::string> set;
    if (!f.parse(argc, argv, &set)) return 0;
    return run(o, t, e, set);
  } catch (const Error& err) {
    std::fprintf(stderr, "table1: error: %s\n", err.what());
    return 2;
  }
}
