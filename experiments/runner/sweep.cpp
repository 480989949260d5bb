#include "experiments/runner/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "experiments/runner/plot.h"
#include "experiments/runner/progress.h"
#include "experiments/runner/verdict.h"
#include "tensor/error.h"

namespace tg::runner {

bool GivenFlags::operator()(const char* name) const {
  return std::find(names.begin(), names.end(), name) != names.end();
}

void resnet_profile(bool quick, const GivenFlags& given, TrainConfig& t) {
  if (!given("dataset")) t.dataset = quick ? "fashion-mnist" : "cifar10";
  if (!given("model")) t.model = quick ? "resnet20" : "resnet50_cifar";
  if (!given("epochs") && !quick) t.epochs = 200;
}

void table1_profile(bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t, EvalConfig& e) {
  if (!quick) return resnet_profile(false, given, t);
  if (!given("dataset")) t.dataset = "fashion-mnist";
  if (!given("model")) t.model = "cnn_small";
  if (!given("taus")) o.taus = {1, 50};
  if (!given("optimizer")) t.optimizer = "adam";
  if (!given("lr")) t.lr = 0.002;
  if (!given("weight-decay")) t.weight_decay = 0;
  if (!given("epochs")) t.epochs = 2;
  if (!given("sweep-eps")) e.sweep_eps = {0, 4, 8, 16};
}

namespace {

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// The evaluation's part of each profile, the same for every table.
void apply_eval_profile(bool quick, const GivenFlags& given, EvalConfig& e) {
  if (!quick) {
    if (!given("sweep-eps"))
      for (double v : attacks::default_sweep_eps()) e.sweep_eps.push_back(std::round(v * 255));
    return;
  }
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

// Robust accuracy against eps, every row's curves: eps_sweep.csv (one line a point) and eps_sweep.png
// (one panel, a line per row and attack).
struct SweepRow {
  std::string label;  // "tau 50", "tau 50 seed 1", "PGD-AT"
  std::vector<SweepCurve> curves;
};

void write_eps_sweep(const std::string& dir, const std::vector<SweepRow>& rows) {
  std::vector<std::vector<std::string>> lines;
  Panel p{"robust accuracy against eps", "eps (1/255)", "robust accuracy %", {}, false};
  for (const auto& row : rows) {
    for (const auto& curve : row.curves) {
      Series series{row.label + " " + attack_title(curve.attack), {}, {}};
      for (const auto& [eps, acc] : curve.points) {
        lines.push_back({row.label, curve.attack, number_text(eps), fixed(acc, 2)});
        series.x.push_back(eps), series.y.push_back(acc);
      }
      p.series.push_back(series);
    }
  }
  write_file_atomic(dir + "/eps_sweep.csv", csv_table({"row", "attack", "eps_255", "robust %"}, lines));
  write_plot_png(dir + "/eps_sweep.png", {p}, 1, 640, 420);
}

// One row of the table: a training temperature, or the PGD-AT baseline.
struct RowSpec {
  std::string label;
  double tau = 1;
  bool baseline = false;
};

int run(const SweepBinary& binary, SweepOptions o, TrainConfig t, EvalConfig e, const GivenFlags& given) {
  const char* name = binary.name.c_str();
  TG_CHECK(!given("tau"), name, ": give the temperatures with --taus (e.g. --taus 1,10,50), not --tau");
  TG_CHECK(!given("run-id"), name, ": --run-id does not apply (each run is named by its tau and seed)");
  TG_CHECK(o.profile == "paper" || o.profile == "quick", "--profile must be quick or paper, got '", o.profile, "'");
  const bool quick = o.profile == "quick";
  apply_eval_profile(quick, given, e);
  binary.apply_profile(quick, given, o, t, e);
  TG_CHECK(!o.taus.empty(), "--taus: give at least one temperature");
  for (double tau : o.taus) TG_CHECK(tau > 0, "--taus: temperatures must be > 0, got ", tau);
  if (o.seeds.empty()) o.seeds = {static_cast<double>(t.seed)};
  if (!given("out-dir")) t.out_dir = "results/" + binary.name + "/" + t.dataset + "_" + t.model;
  e.device = t.device;
  validate(e);
  if (binary.check) binary.check(o, t);

  std::vector<RowSpec> specs;
  if (o.baseline) specs.push_back({"PGD-AT", 1, true});
  for (double tau : o.taus) specs.push_back({number_text(tau), tau, false});

  const std::string dir = t.out_dir;
  make_dirs(dir);
  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "%s: %s, %s, tau %s%s, seeds %s -> %s\n", name, t.dataset.c_str(), t.model.c_str(),
               join_numbers(o.taus).c_str(), o.baseline ? " and the PGD-AT baseline" : "",
               join_numbers(o.seeds).c_str(), dir.c_str());

  // The -C sets are built once for the sweep, and only when some run still needs them.
  std::vector<CorruptedSet> corrupted;
  bool corrupted_built = false;

  const std::vector<std::string> columns = table_columns(e), plotted = table_columns(e, true);
  std::vector<std::string> header = {"tau"};
  if (o.seeds.size() > 1) header.push_back("seed");
  header.insert(header.end(), columns.begin(), columns.end());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::pair<double, std::vector<double>>>> per_seed(o.seeds.size());
  std::vector<SweepRow> sweep_rows;
  const int64_t total = static_cast<int64_t>(specs.size() * o.seeds.size());
  int64_t index = 0;
  for (const RowSpec& spec : specs) {
    for (size_t s = 0; s < o.seeds.size(); ++s) {
      TrainConfig tc = t;
      tc.tau = spec.tau;
      tc.seed = static_cast<int64_t>(o.seeds[s]);
      if (spec.baseline) tc.adversarial = "pgd";
      EvalConfig ec = e;
      ec.seed = tc.seed;
      std::fprintf(stderr, "\n%s: run %lld/%lld: %s%s seed %lld\n", name, static_cast<long long>(++index),
                   static_cast<long long>(total), spec.baseline ? "" : "tau ", spec.label.c_str(),
                   static_cast<long long>(tc.seed));
      TrainOutcome r = train(tc);
      std::vector<std::string> row = {spec.label};
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
      if (!spec.baseline) per_seed[s].emplace_back(spec.tau, table_values(ev, ec));  // the plot's x is tau
      write_table(dir, header, rows);
      write_plot(dir + "/table.png", plotted, o.seeds, per_seed);
      if (!ev.sweeps.empty()) {
        std::string label = (spec.baseline ? "" : "tau ") + spec.label;
        if (o.seeds.size() > 1) label += " seed " + number_text(o.seeds[s]);
        sweep_rows.push_back({label, ev.sweeps});
        write_eps_sweep(dir, sweep_rows);
      }
    }
  }
  write_table(dir, header, rows);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n%s\n", markdown_table(header, rows).c_str());
  std::printf("Evaluated at tau = 1 on %s (%s); attacks at eps %g/255 on %s test images; wall time %s.\n",
              t.dataset.c_str(), t.model.c_str(), e.eps,
              e.attack_subset > 0 ? std::to_string(e.attack_subset).c_str() : "all", format_duration(seconds).c_str());
  std::printf("%s\n", verdict_rule_text().c_str());
  std::printf("Wrote %s/table.md, table.csv and table.png%s.\n", dir.c_str(),
              sweep_rows.empty() ? "" : ", eps_sweep.csv and eps_sweep.png");
  return 0;
}

}  // namespace

int sweep_main(const SweepBinary& binary, int argc, char** argv) {
  SweepOptions o;
  TrainConfig t;
  EvalConfig e;
  Flags f(binary.name, binary.summary);
  f.add("profile", &o.profile, "paper (" + binary.paper + ") | quick (" + binary.quick + "); explicit flags override it");
  f.add("taus", &o.taus, "training temperatures");
  f.add("seeds", &o.seeds, "seeds (one run per tau and seed; empty = --seed)");
  if (binary.add_flags) binary.add_flags(f, o, t);
  add_train_flags(f, t);
  add_eval_flags(f, e);
  try {
    GivenFlags given;
    if (!f.parse(argc, argv, &given.names)) return 0;
    return run(binary, o, t, e, given);
  } catch (const Error& err) {
    std::fprintf(stderr, "%s: error: %s\n", binary.name.c_str(), err.what());
    return 2;
  }
}

}  // namespace tg::runner
