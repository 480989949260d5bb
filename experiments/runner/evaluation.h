// The evaluation of one trained model (issue 5, "Evaluation"): everything at tau = 1 with the model in
// eval mode, float32.
// - Clean accuracy on the whole test split (the run's --test-subset applied).
// - -C accuracy: the 15 common corruptions, from official/`corrupt` .npy files (load_corrupted) or
//   generated on the fly (corrupt_batch) for the first corrupted_subset test images; severity 3 (the
//   paper's) and the mean over the severities asked for (1-5 by default).
// - Each attack's own robust accuracy (not cascaded: every attack starts from the clean points) on the
//   first attack_subset test images, and the worst case (a point is robust only if every attack fails).
// - Masking diagnostics on the attack subset: the fraction of inputs whose input gradient of CE is
//   exactly zero in float32 and in float64, and the logit margins z_y - max_{i != y} z_i (median, and
//   the fraction above 17, where softmax saturates in float32: 1 + e^-17 rounds to 1).
// - Robust accuracy against eps (eps_sweep), when sweep_eps is not empty: one curve per sweep_attacks
//   entry, an attack or "worst" (the worst case over every attack of the list, cascaded).
// - Calibration on the whole test split, split by index parity: the even-indexed half is held out to
//   fit the temperature, ECE (15 bins) and NLL are measured on the odd-indexed half before and after.
// The result is written to <run_dir>/evaluation.json atomically, with the EvalConfig it was made with.
// Work is saved stage by stage (evaluation.partial.json), so a killed evaluation resumes at the stage
// it was in, and an evaluation.json made with the same EvalConfig is reused as it is.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attacks/evaluate.h"
#include "data/dataset.h"
#include "distributed/communicator.h"
#include "experiments/analysis/calibration.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/results.h"
#include "nn/module.h"

namespace tg::runner {

struct EvalConfig {
  double eps = 8;             // l_inf budget in 1/255 units (8 = 8/255 in pixel units)
  int64_t attack_subset = 0;  // attacks and masking diagnostics on the first N test images (0 = all)
  // Comma-separated make_attack names: the paper's PGD-20 and C&W, then APGD-CE, APGD-DLR, APGD-T, Square.
  std::string attacks = "pgd20,cw,apgd-ce,apgd-dlr,apgd-t,square";
  int64_t apgd_iters = 100;
  int64_t square_queries = 5000;
  std::vector<double> sweep_eps;      // eps values in 1/255 units for the eps sweep (empty = none)
  std::string sweep_attacks = "pgd20,worst";  // the eps sweep's curves: make_attack names, "worst"
  std::string corrupted = "auto";     // auto (files when corrupted_dir is set, else generate) | files | generate | none
  std::string corrupted_dir;          // <corruption>.npy + labels.npy (CIFAR-10-C), or Tiny-ImageNet-C folders
  int64_t corrupted_subset = 0;       // first N images of each corrupted set (0 = all; generate: the attack subset)
  std::vector<double> severities = {1, 2, 3, 4, 5};
  int64_t batch_size = 256;
  std::string device = "auto";
  bool deterministic = true;          // deterministic GPU algorithms (tensor/determinism.h)
  int64_t seed = 0;                   // attacks' random starts and the generated corruptions
  // fp32 | tf32 | bf16 (nn/precision.h): the precision of the evaluation and the attacks, fp32 by default
  // whatever the training ran in (an attack's gradient precision decides whether masking appears). The
  // masking diagnostics run in fp32 and fp64 regardless.
  std::string precision = "fp32";
};

// --eps, --attack-subset, --attacks, --apgd-iters, --square-queries, --sweep-eps, --sweep-attacks,
// --corrupted, --corrupted-dir, --corrupted-subset, --severities, --eval-batch-size, --eval-precision. --device,
// --deterministic and --seed are left to the binary (the train flags have them).
void add_eval_flags(Flags& flags, EvalConfig& config);
// Checks the values (attack names, severities, sizes); throws tg::Error naming the flag.
void validate(const EvalConfig& config);
std::vector<std::string> attack_list(const EvalConfig& config);
std::vector<std::string> sweep_attack_list(const EvalConfig& config);
// The config as it identifies an evaluation (device, determinism and batch size left out: they do not
// change what is measured).
Json eval_config_json(const EvalConfig& config);

// A display name for an attack of make_attack: "PGD-20", "C&W", "APGD-CE", "APGD-DLR", "APGD-T", "Square"
// (and "worst case" for the eps sweep's "worst").
std::string attack_title(const std::string& name);

struct CorruptedSet {
  std::string corruption;
  int severity = 0;
  Dataset data;  // uint8 [N, C, H, W]
};
// The corrupted sets `config` asks for: every corruption in corrupted_dir at each severity, or generated
// from the first corrupted_subset (else attack_subset) test images, one Philox stream per (corruption,
// severity) as `corrupt` uses. Empty for "none". 64x64 images use the Tiny-ImageNet constants, the
// others CIFAR's. corrupted_dir is read in one of two layouts:
// - Tiny-ImageNet-C, when a <corruption>/ folder exists: <dir>/<corruption>/<severity>/<wnid>/*.JPEG
//   (load_tiny_imagenet_c; a missing corruption folder is skipped, a missing severity is an error).
//   `test` must name its classes by Tiny-ImageNet's sorted wnids (load_dataset("tiny-imagenet")):
//   labels are mapped to them by wnid. corrupted_subset draws N images by config.seed.
// - else the .npy layout of CIFAR-10-C (data/corrupted.h): a missing <corruption>.npy is skipped,
//   none at all is an error; corrupted_subset takes the first N images.
std::vector<CorruptedSet> corrupted_sets(const Dataset& test, const EvalConfig& config);

// Robust accuracy against eps for one attack (or "worst"): (eps in 1/255, robust accuracy %), eps ascending.
struct SweepCurve {
  std::string attack;
  std::vector<std::pair<double, double>> points;
};

struct Evaluation {
  std::string status = "finished";  // finished | diverged (the run diverged: nothing measured)
  int64_t test_count = 0, attack_count = 0, corrupted_count = 0;
  double clean = 0;                 // percent, whole test split
  double clean_subset = 0;          // percent, attack subset
  double corrupted_s3 = NAN;        // percent, mean over corruptions at severity 3 (NaN: not measured)
  double corrupted_mean = NAN;      // percent, mean over corruptions and the severities measured
  std::vector<std::pair<std::string, double>> attacks;  // (make_attack name, robust accuracy %)
  double worst_case = NAN;          // percent
  std::vector<SweepCurve> sweeps;                       // one per sweep_attacks entry
  double zero_grad_f32 = 0, zero_grad_f64 = 0;          // fractions
  attacks::MarginSummary margins;
  double margin_above_17 = 0;       // fraction of margins > 17
  analysis::CalibrationReport calibration;
  double seconds = 0;

  double attack(const std::string& name) const;  // NaN when not run
};
// The results as JSON (every field of Evaluation) and back.
Json evaluation_json(const Evaluation& e);
Evaluation evaluation_from_json(const Json& j);
// evaluation.json: {"config": eval_config_json(config), then `source`'s fields (what was evaluated, when
// it is not a run folder), then evaluation_json(e)'s}.
Json evaluation_file(const Evaluation& e, const EvalConfig& config, const Json& source = Json::object());

// The table's columns after tau: the paper's (clean, -C (s3), PGD-20, C&W as the attack list has them),
// the verdict on them (verdict.h: masked, robust, ...), then ours (the other attacks, worst case, -C
// mean, zero-gradient % in float32 and float64, median margin, margins above 17 %, ECE, NLL, ECE after
// T, fitted T). Percent columns say so in their name. numeric: only the columns with a number (the
// verdict left out), as table_values gives them.
std::vector<std::string> table_columns(const EvalConfig& config, bool numeric = false);
// One row's numbers in table_columns(config, true)'s order (NaN where not measured or the run
// diverged), and every cell as text ("n/a" where not measured, "diverged" for a diverged run).
std::vector<double> table_values(const Evaluation& e, const EvalConfig& config);
std::vector<std::string> table_cells(const Evaluation& e, const EvalConfig& config);

// Evaluates `model` (moved to config.device and put in eval mode here) on `test`. image_size: resize
// inputs to it first (the input contract's input_size; 0 = as they are). `partial` (optional) holds the stages
// already done and receives each finished one; `save` (optional) is called after each stage.
// ranks (optional): the processes that share this evaluation (sharded evaluation). Each evaluates its
// shard of every set (distributed/shard.h: whole batches of config.batch_size, contiguous, in rank
// order), the per-sample results (logits, correct and robust flags per attack and eps, zero-gradient
// flags, margins) are gathered in set order, and every number is computed from them once, so every rank
// returns the evaluation one process makes (the same bits: the same batches, and the attacks' random
// numbers drawn per sample, attacks/rng.h). A collective: every rank calls it with the same arguments.
Evaluation evaluate_model(nn::Module& model, const Dataset& test, const std::vector<CorruptedSet>& corrupted,
                          const EvalConfig& config, int64_t image_size = 0, Json* partial = nullptr,
                          const std::function<void()>& save = nullptr, distributed::Communicator* ranks = nullptr);

// Evaluates the `train` run in run_dir (config.json, metrics.json, model.safetensors) and writes
// <run_dir>/evaluation.json; reuses it when it was made with the same config. A diverged run gives
// status "diverged". `corrupted`: sets already built (a sweep builds them once); nullptr = build here.
// ranks: as evaluate_model's (rank 0 alone writes the files; the ranks read run_dir, so it must be on a
// file system they share); nullptr = this process alone (a sweep, whose ranks evaluate different runs).
Evaluation evaluate_run(const std::string& run_dir, const EvalConfig& config,
                        const std::vector<CorruptedSet>* corrupted = nullptr, distributed::Communicator* ranks = nullptr);

// True when <run_dir>/evaluation.json exists and was made with this config.
bool evaluation_done(const std::string& run_dir, const EvalConfig& config);
// <run_dir>/evaluation.json when it exists and was made with this config, else nullopt.
std::optional<Evaluation> load_evaluation(const std::string& run_dir, const EvalConfig& config);

// The test split of a run (its dataset, data dir and test subset, from config.json).
Dataset run_test_set(const std::string& run_dir);

}  // namespace tg::runner
