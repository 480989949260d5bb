// The temperature sweep behind table1, table2 and table3: for each training temperature tau (and
// seed), trains a run with `train` (a finished run is reused, a killed one resumed), evaluates it at
// tau = 1 with `evaluate_run`, and writes into the sweep's folder (default
// results/<binary>/<dataset>_<model>/): the runs, table.md, table.csv and table.png (one panel per
// column against tau, log scale), rewritten atomically after every run. A diverged run shows as
// "diverged" in its row and the sweep goes on. Prints the Markdown table at the end.
//
// The three binaries differ only in their profiles (the defaults of `--profile quick|paper`), a few
// flags of their own, and what they check before training; a SweepBinary says how.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "experiments/runner/evaluation.h"
#include "experiments/runner/training.h"

namespace tg::runner {

struct SweepOptions {
  std::string profile = "paper";
  std::vector<double> taus = {0.1, 0.5, 1, 10, 30, 50, 70, 100};
  std::vector<double> seeds;  // empty = --seed
  bool baseline = false;      // a Madry PGD-AT run first, as the table's "PGD-AT" row (table3)
  std::string shard;          // "I/N"; "" = from the environment (experiments/runner/workers.h)
  double lock_stale_seconds = 120;  // a run's lock whose heartbeat is older is taken over
};

// The flags the user gave, by name (without "--").
struct GivenFlags {
  std::vector<std::string> names;
  bool operator()(const char* name) const;
};

struct SweepBinary {
  std::string name;     // "table1": the program, its messages and its default folder results/<name>/
  std::string summary;  // the first lines of --help
  std::string quick;    // what --profile quick sets, for --help
  std::string paper;    // what --profile paper sets, for --help
  // Adds the binary's own flags (may be empty).
  std::function<void(Flags&, SweepOptions&, TrainConfig&)> add_flags;
  // Sets the binary's profile defaults (model, optimizer, epochs, ...) for every flag not given. The
  // evaluation's defaults (quick: attacks on 200 images, APGD 25 iterations, Square 300 queries,
  // severity 3; paper: the eps sweep) are set by the sweep for all binaries.
  std::function<void(bool quick, const GivenFlags&, SweepOptions&, TrainConfig&, EvalConfig&)> apply_profile;
  // Checks and notices before any training (may be empty); throws tg::Error on a bad setting.
  std::function<void(const SweepOptions&, const TrainConfig&)> check;
};

// Table I's model and data for every flag not given: ResNet-50 (CIFAR stem) on CIFAR-10 for 200 epochs
// (paper), or ResNet-20 on Fashion-MNIST (quick); table1 and table3 start from it.
void resnet_profile(bool quick, const GivenFlags& given, TrainConfig& t);
// Table I's recipe for every flag not given: resnet_profile's model and data (paper), or the quickstart's
// (quick): cnn_small on all of Fashion-MNIST, the same Adam recipe for every tau (Adam's step does not
// shrink with the 1/tau in CE(z / tau, y)'s gradient, SGD's does), tau 1 and 50. table1 and the figure
// commands build their TrainConfig through it, so they share the runs.
void table1_profile(bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t);
// The evaluation's part of every profile (the tables' and `evaluate`'s), for every flag not given: quick
// attacks 200 images with APGD 25 iterations, Square 300 queries, -C severity 3; paper adds the eps
// sweep at attacks::default_sweep_eps.
void eval_profile(bool quick, const GivenFlags& given, EvalConfig& e);
// table2's profile: ViT-S/16 fine-tuned with Adam (paper), or a ViT-Ti/4 from scratch on Fashion-MNIST
// (quick); fig3 builds its TrainConfig through it, so it reuses table2's runs.
void table2_profile(bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t);
// The sweep's folder when --out-dir is not given: results/<binary>/<dataset>_<model>.
std::string sweep_dir(const std::string& binary, const TrainConfig& t);

// A number as the tables and figures print it ("0.5", "50").
std::string number_text(double v);

// Parses argv, runs the sweep and returns the exit status: 0, or 2 after printing a tg::Error as
// "<name>: error: ...". `--help` prints the flags and returns 0.
int sweep_main(const SweepBinary& binary, int argc, char** argv);

}  // namespace tg::runner
