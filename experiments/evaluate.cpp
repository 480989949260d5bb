// evaluate: the evaluation of one model (experiments/runner/evaluation.h): clean and -C accuracy, each
// attack's robust accuracy and the worst case, the gradient-masking diagnostics, an eps sweep and
// calibration, all at tau = 1. Given a `train` run folder it writes <run>/evaluation.json (reused when
// run again with the same settings; a killed evaluation resumes at the stage it was in); given a
// checkpoint, --model and --dataset, it writes --out. Prints the table row and the eps sweep.
// Under `mpirun -np N evaluate ...` the N ranks share the evaluation: each evaluates its shard of every
// set, the per-sample results are gathered, and rank 0 writes and prints the evaluation one process
// makes (experiments/runner/evaluation.h, evaluate_model).
#include <cstdio>

#include "experiments/runner/evaluation.h"
#include "experiments/runner/progress.h"
#include "experiments/runner/sweep.h"
#include "experiments/runner/training.h"
#include "nn/models/factory.h"
#include "tensor/safetensors.h"

using namespace tg;
using namespace tg::runner;

namespace {

struct Options {
  std::string run, checkpoint, model, dataset = "fashion-mnist", data_dir, out;
  int64_t test_subset = 0;
  std::string profile = "paper";
};

void print(const Evaluation& e, const EvalConfig& c) {
  std::vector<std::vector<std::string>> rows;
  const auto names = table_columns(c);
  const auto cells = table_cells(e, c);
  for (size_t i = 0; i < names.size(); ++i) rows.push_back({names[i], cells[i]});
  std::printf("\n%s", markdown_table({"metric", "value"}, rows).c_str());
  if (e.status != "finished") return;
  std::printf("\nclean on %lld test images; attacks and diagnostics on %lld (clean there %.2f%%); eps %g/255; "
              "calibration: T fitted on the even-indexed test images, ECE/NLL on the odd-indexed ones\n",
              static_cast<long long>(e.test_count), static_cast<long long>(e.attack_count), e.clean_subset, c.eps);
  for (const auto& curve : e.sweeps) {
    std::printf("eps sweep (%s):", attack_title(curve.attack).c_str());
    for (const auto& [eps, acc] : curve.points) std::printf("  %g/255: %.2f%%", eps, acc);
    std::printf("\n");
  }
}

int run(const Options& o, EvalConfig c, const GivenFlags& given) {
  TG_CHECK(o.profile == "paper" || o.profile == "quick", "--profile must be quick or paper, got '", o.profile, "'");
  eval_profile(o.profile == "quick", given, c);  // the tables' evaluation profiles
  validate(c);

  distributed::Communicator& ranks = distributed::world();
  const bool root = ranks.rank() == 0;
  // Several ranks on a node: each on its own GPU (local rank mod GPUs), unless --device says otherwise.
  if (ranks.size() > 1 && c.device == "auto" && cuda_device_count() > 1) c.device = distributed::rank_gpu().str();
  if (ranks.size() > 1 && root)
    std::fprintf(stderr, "evaluate: %lld ranks (%s) share the evaluation\n", static_cast<long long>(ranks.size()),
                 ranks.backend().c_str());
  Evaluation e;
  if (!o.run.empty()) {
    e = evaluate_run(o.run, c, nullptr, &ranks);
    if (root) std::printf("%s: wrote %s/evaluation.json (%s)\n", o.run.c_str(), o.run.c_str(), format_duration(e.seconds).c_str());
  } else {
    TG_CHECK(!o.checkpoint.empty() && !o.model.empty(),
             "evaluate: give --run DIR (a train run), or --checkpoint FILE with --model and --dataset");
    TrainConfig t;
    t.dataset = o.dataset;
    t.data_dir = o.data_dir;
    t.test_subset = o.test_subset;
    Dataset test = load_split(t, false);
    const SafetensorsFile weights = load_safetensors(o.checkpoint);
    // The normalization the checkpoint records (or its publisher's), else the dataset's.
    const nn::InputContract contract = input_contract("auto", o.model, o.dataset, &weights);
    auto model = nn::create_model(o.model, {test.num_classes, test.channels(), contract});
    model->load_state_dict(nn::adapt_state_dict(*model, weights.tensors), true);
    e = evaluate_model(*model, test, corrupted_sets(test, c), c, contract.input_size, nullptr, nullptr, &ranks);
    if (!o.out.empty() && root) {
      const Json source = Json::object().set("checkpoint", o.checkpoint).set("model", o.model).set("dataset", o.dataset);
      write_file_atomic(o.out, evaluation_file(e, c, source).dump());
      std::printf("evaluate: wrote %s\n", o.out.c_str());
    }
  }
  if (root) print(e, c);
  return e.status == "finished" ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  EvalConfig c;
  Flags f("evaluate",
          "Evaluates one model at tau = 1: clean and -C accuracy, PGD-20, C&W, APGD-CE, APGD-DLR, APGD-T, Square and\n"
          "their worst case, exactly-zero input gradients (float32/float64), logit margins, eps sweep, calibration.\n"
          "Example: evaluate --run results/train/fashion-mnist_resnet20_tau1_seed0 --profile quick\n"
          "mpirun -np N evaluate ... shares one evaluation among N ranks (a shard of every set each, one GPU each);\n"
          "the numbers are the single process's.");
  f.add("run", &o.run, "a train run folder (config.json, model.safetensors); writes <run>/evaluation.json");
  f.add("checkpoint", &o.checkpoint, "or: model weights (.safetensors: ours, torchvision's or timm's)");
  f.add("model", &o.model, "with --checkpoint: the model name (see train --help)");
  f.add("dataset", &o.dataset, "with --checkpoint: fashion-mnist | mnist | cifar10 | cifar100 | cifar100-coarse");
  f.add("data-dir", &o.data_dir, "with --checkpoint: the dataset's folder (\"\" = its default)");
  f.add("test-subset", &o.test_subset, "with --checkpoint: the first N test images (0 = all)");
  f.add("out", &o.out, "with --checkpoint: where to write the evaluation (.json)");
  f.add("profile", &o.profile, "paper (full attacks, eps sweep) | quick (200 images, APGD 25 iterations, Square 300 "
                               "queries, severity 3); explicit flags override it");
  add_eval_flags(f, c);
  f.add("device", &c.device, "auto (the GPU when there is one) | cpu | cuda | cuda:N");
  add_deterministic_flag(f, &c.deterministic);
  f.add("seed", &c.seed, "seed of the attacks' random starts and the generated corruptions");
  try {
    GivenFlags given;
    if (!f.parse(argc, argv, &given.names)) return 0;
    return run(o, c, given);
  } catch (const Error& e) {
    std::fprintf(stderr, "evaluate: error: %s\n", e.what());
    return 2;
  }
}
