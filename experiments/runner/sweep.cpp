#include "experiments/runner/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>
#include <thread>

#include "experiments/runner/plot.h"
#include "experiments/runner/progress.h"
#include "experiments/runner/schema.h"
#include "experiments/runner/verdict.h"
#include "experiments/runner/workers.h"
#include "tensor/device.h"
#include "util/error.h"

namespace tg::runner {

bool GivenFlags::operator()(const char* name) const {
  return std::find(names.begin(), names.end(), name) != names.end();
}

void resnet_profile(bool quick, const GivenFlags& given, TrainConfig& t) {
  if (!given("dataset")) t.dataset = quick ? "fashion-mnist" : "cifar10";
  if (!given("model")) t.model = quick ? "resnet20" : "resnet50_cifar";
  if (!given("epochs") && !quick) t.epochs = 200;
}

void table1_profile(bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t) {
  if (!quick) return resnet_profile(false, given, t);
  // The quickstart's recipe: a small CNN on all of Fashion-MNIST. Adam, because it is unaffected by the
  // 1/tau in the gradient (SGD moves a tau = 50 model 50x slower); no weight decay, whose L2 term does
  // not carry the 1/tau and would weigh 50x more at tau = 50.
  if (!given("dataset")) t.dataset = "fashion-mnist";
  if (!given("model")) t.model = "cnn_small";
  if (!given("taus")) o.taus = {1, 50};
  if (!given("optimizer")) t.optimizer = "adam";
  if (!given("lr")) t.lr = 0.002;
  if (!given("weight-decay")) t.weight_decay = 0;
  if (!given("epochs")) t.epochs = 2;
}

void table2_profile(bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t) {
  if (!given("optimizer")) t.optimizer = "adam";
  if (!given("lr")) t.lr = 1e-4;
  if (!given("weight-decay")) t.weight_decay = 0;
  if (!quick) {
    if (!given("dataset")) t.dataset = "cifar10";
    if (!given("model")) t.model = "vit_small_patch16_224";
    if (!given("epochs")) t.epochs = 10;
    return;
  }
  if (!given("dataset")) t.dataset = "fashion-mnist";
  if (!given("model")) t.model = "vit_tiny_patch4_32";
  if (!given("lr")) t.lr = 1e-3;  // from scratch
  if (!given("taus")) o.taus = {1, 50};
  if (!given("epochs")) t.epochs = 2;
  if (!given("train-subset")) t.train_subset = 2000;
  if (!given("test-subset")) t.test_subset = 500;
}

std::string sweep_dir(const std::string& binary, const TrainConfig& t) {
  return "results/" + binary + "/" + t.dataset + "_" + t.model;
}

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void eval_profile(bool quick, const GivenFlags& given, EvalConfig& e) {
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

namespace {

void write_table(const std::string& dir, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  write_file_atomic(dir + "/table.md", markdown_table(header, rows));
  write_file_atomic(dir + "/" + schema::kTableFile, csv_table(header, rows));
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

// `what`: the model and data, for the title ("cnn_small on fashion-mnist, 200 test images").
void write_eps_sweep(const std::string& dir, const std::vector<SweepRow>& rows, const std::string& what) {
  std::vector<std::vector<std::string>> lines;
  Figure f;
  f.title = "Robust accuracy against ε, evaluated at τ = 1: " + what;
  f.panels.push_back({.title = "PGD-20 (CE) and the per-sample worst case over every attack, per training τ",
                      .x_label = "ε (1/255, l_inf)", .y_label = "robust accuracy (%)"});
  f.panel_width = 640;
  f.panel_height = 420;
  for (const auto& row : rows) {
    for (const auto& curve : row.curves) {
      Series series{.name = row.label + ", " + attack_title(curve.attack)};
      for (const auto& [eps, acc] : curve.points) {
        lines.push_back({row.label, curve.attack, number_text(eps), fixed(acc, 2)});
        series.x.push_back(eps), series.y.push_back(acc);
      }
      f.panels[0].series.push_back(series);
    }
  }
  write_file_atomic(dir + "/eps_sweep.csv", csv_table({"row", "attack", "eps_255", "robust %"}, lines));
  write_figure(dir + "/eps_sweep", f);
}

// One row of the table: a training temperature, or the PGD-AT baseline.
struct RowSpec {
  std::string label;
  double tau = 1;
  bool baseline = false;
};

// One run of the sweep: its row, its seed's position, and its configs.
struct SweepRun {
  RowSpec row;
  size_t seed_index = 0;
  TrainConfig train;
  EvalConfig eval;
};

// The table (md, csv), its plot and the eps sweeps (eps_sweep.csv, .png) from the runs on disk: a run
// evaluated before gives its row, one still training (or not started) says so. Returns the header and
// the rows; `sweeps` (optional) is set when eps sweeps were written.
std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>> write_results(
    const std::string& dir, const EvalConfig& e, const SweepOptions& o, const std::vector<SweepRun>& runs,
    bool* sweeps = nullptr) {
  const std::vector<std::string> columns = table_columns(e), plotted = table_columns(e, true);
  std::vector<std::string> header = {schema::kTauColumn};
  if (o.seeds.size() > 1) header.push_back("seed");
  header.insert(header.end(), columns.begin(), columns.end());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::pair<double, std::vector<double>>>> per_seed(o.seeds.size());
  std::vector<SweepRow> sweep_rows;
  for (const SweepRun& r : runs) {
    std::vector<std::string> row = {r.row.label};
    if (o.seeds.size() > 1) row.push_back(number_text(o.seeds[r.seed_index]));
    const std::string rd = run_dir(r.train);
    if (const std::optional<Evaluation> evaluated = load_evaluation(rd, r.eval); !evaluated) {
      row.insert(row.end(), columns.size(), file_exists(rd + "/" + schema::kLogFile) ? "training" : "pending");
    } else {
      const Evaluation& ev = *evaluated;
      const auto cells = table_cells(ev, r.eval);
      row.insert(row.end(), cells.begin(), cells.end());
      if (!r.row.baseline) per_seed[r.seed_index].emplace_back(r.train.tau, table_values(ev, r.eval));  // x is tau
      if (!ev.sweeps.empty()) {
        std::string label = (r.row.baseline ? "" : "tau ") + r.row.label;
        if (o.seeds.size() > 1) label += " seed " + number_text(o.seeds[r.seed_index]);
        sweep_rows.push_back({label, ev.sweeps});
      }
    }
    rows.push_back(row);
  }
  write_table(dir, header, rows);
  write_plot(dir + "/table.png", plotted, o.seeds, per_seed);
  if (!sweep_rows.empty()) {
    const TrainConfig& t = runs.front().train;
    const int64_t attacked = runs.front().eval.attack_subset;
    write_eps_sweep(dir, sweep_rows,
                    t.model + " on " + t.dataset + ", " + (attacked > 0 ? std::to_string(attacked) : "all") + " test images");
  }
  if (sweeps) *sweeps = !sweep_rows.empty();
  return {header, rows};
}

int run(const SweepBinary& binary, SweepOptions o, TrainConfig t, EvalConfig e, const GivenFlags& given) {
  const char* name = binary.name.c_str();
  TG_CHECK(!given("tau"), name, ": give the temperatures with --taus (e.g. --taus 1,10,50), not --tau");
  TG_CHECK(!given("run-id"), name, ": --run-id does not apply (each run is named by its tau and seed)");
  TG_CHECK(o.profile == "paper" || o.profile == "quick", "--profile must be quick or paper, got '", o.profile, "'");
  const bool quick = o.profile == "quick";
  eval_profile(quick, given, e);
  binary.apply_profile(quick, given, o, t, e);
  TG_CHECK(!o.taus.empty(), "--taus: give at least one temperature");
  for (double tau : o.taus) TG_CHECK(tau > 0, "--taus: temperatures must be > 0, got ", tau);
  if (o.seeds.empty()) o.seeds = {static_cast<double>(t.seed)};
  if (!given("out-dir")) t.out_dir = sweep_dir(binary.name, t);
  e.device = t.device;
  e.deterministic = t.deterministic;
  validate(e);
  if (binary.check) binary.check(o, t);

  std::vector<RowSpec> specs;
  if (o.baseline) specs.push_back({"PGD-AT", 1, true});
  for (double tau : o.taus) specs.push_back({number_text(tau), tau, false});
  // Every run of the sweep, in the fixed order of the table's rows.
  std::vector<SweepRun> runs;
  for (const RowSpec& spec : specs)
    for (size_t s = 0; s < o.seeds.size(); ++s) {
      SweepRun r{spec, s, t, e};
      r.train.tau = spec.tau;
      r.train.seed = static_cast<int64_t>(o.seeds[s]);
      if (spec.baseline) r.train.adversarial = "pgd";
      r.eval.seed = r.train.seed;
      runs.push_back(r);
    }

  const std::string dir = t.out_dir;
  make_dirs(dir);
  const Shard shard = detect_shard(o.shard);
  const auto t0 = std::chrono::steady_clock::now();
  std::fprintf(stderr, "%s: %s, %s, tau %s%s, seeds %s -> %s\n", name, t.dataset.c_str(), t.model.c_str(),
               join_numbers(o.taus).c_str(), o.baseline ? " and the PGD-AT baseline" : "",
               join_numbers(o.seeds).c_str(), dir.c_str());
  // Several workers on one machine: worker i takes GPU (i mod GPUs), unless --device says otherwise.
  if (shard.count > 1 && t.device == "auto" && cuda_device_count() > 1) {
    t.device = "cuda:" + std::to_string(shard.local_index % cuda_device_count());
    for (SweepRun& r : runs) r.train.device = r.eval.device = t.device;
  }
  if (shard.count > 1)
    std::fprintf(stderr, "%s: worker %lld of %lld (%s) on %s, sharing %s with the others\n", name,
                 static_cast<long long>(shard.index), static_cast<long long>(shard.count), shard.source.c_str(),
                 t.device.c_str(), dir.c_str());

  // The -C sets are built once per worker, and only when some run still needs them.
  std::vector<CorruptedSet> corrupted;
  bool corrupted_built = false;
  auto done = [](const SweepRun& r) { return evaluation_done(run_dir(r.train), r.eval); };
  auto all_done = [&] { return std::all_of(runs.begin(), runs.end(), done); };

  // This worker's runs first (k mod count == index), then the others': a run whose worker died is
  // taken over once its lock is stale, and resumed from its checkpoint.
  std::vector<size_t> order;
  for (size_t pass = 0; pass < 2; ++pass)
    for (size_t k = 0; k < runs.size(); ++k)
      if ((static_cast<int64_t>(k) % shard.count == shard.index) == (pass == 0)) order.push_back(k);
  bool wrote_last = false, paused = false;
  while (true) {
    bool progressed = false, waiting = false;
    for (size_t k : order) {
      const SweepRun& r = runs[k];
      if (done(r)) continue;
      std::string taken_from;
      auto lock = RunLock::try_claim(run_dir(r.train) + ".lock", o.lock_stale_seconds, &taken_from);
      if (!lock) {
        waiting = true;
        continue;
      }
      if (done(r)) continue;  // finished while this worker looked elsewhere
      std::fprintf(stderr, "\n%s: run %zu/%zu: %s%s seed %lld%s\n", name, k + 1, runs.size(),
                   r.row.baseline ? "" : "tau ", r.row.label.c_str(), static_cast<long long>(r.train.seed),
                   taken_from.empty() ? "" : (" (taken over from a stale lock: " + taken_from + ")").c_str());
      TrainOutcome outcome = train(r.train);
      if (outcome.paused) {  // --stop-after: no evaluation yet
        paused = true;
        continue;
      }
      if (outcome.status == "finished" && !corrupted_built) {
        corrupted = corrupted_sets(load_split(r.train, false), r.eval);
        corrupted_built = true;
      }
      evaluate_run(outcome.run_dir, r.eval, &corrupted);
      lock.reset();
      progressed = true;
      wrote_last = all_done();
      if (shard.count == 1) write_results(dir, e, o, runs);  // the table grows run by run
    }
    if (all_done() || paused) break;
    if (waiting && !progressed) std::this_thread::sleep_for(std::chrono::duration<double>(std::min(5.0, o.lock_stale_seconds / 10)));
  }
  if (shard.count > 1 && !wrote_last && !paused) {
    std::printf("%s: every run of %s is done; the worker that finished the last one wrote the table.\n", name,
                dir.c_str());
    return 0;
  }
  bool sweeps = false;
  const auto [header, rows] = write_results(dir, e, o, runs, &sweeps);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("\n%s\n", markdown_table(header, rows).c_str());
  std::printf("Evaluated at tau = 1 on %s (%s); attacks at eps %g/255 on %s test images; wall time %s.\n",
              t.dataset.c_str(), t.model.c_str(), e.eps,
              e.attack_subset > 0 ? std::to_string(e.attack_subset).c_str() : "all", format_duration(seconds).c_str());
  std::printf("%s\n", verdict_rule_text().c_str());
  std::printf("Wrote %s/table.md, table.csv and table.png%s.\n", dir.c_str(),
              sweeps ? ", eps_sweep.csv, eps_sweep.png and eps_sweep.svg" : "");
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
  f.add("shard", &o.shard, "I/N: this is worker I of N sharing the sweep's folder (\"\" = from mpirun's or Slurm's "
                           "environment, else the only worker); runs are claimed by lock files");
  f.add("lock-stale", &o.lock_stale_seconds, "seconds after which a run's lock without a heartbeat is taken over");
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
