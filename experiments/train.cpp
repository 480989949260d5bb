// train: trains one model with the tempered cross-entropy CE(z / tau, y) and writes the run's files
// (config.json, log.csv, metrics.json, model.safetensors, checkpoint.safetensors) under
// <out-dir>/<run-id>/. Run again with the same flags, it resumes a killed run or reuses a finished one.
// `mpirun -np N train ...` trains the one run data-parallel across N processes (TrainConfig::data_parallel).
#include <cstdio>

#include "distributed/communicator.h"
#include "experiments/runner/training.h"
#include "util/error.h"

int main(int argc, char** argv) {
  using namespace tg::runner;
  TrainConfig config;
  Flags flags("train",
              "Trains a classifier with the tempered cross-entropy CE(logits / tau, y); evaluation uses tau = 1.\n"
              "Example: train --dataset fashion-mnist --model resnet20 --tau 1 --epochs 5");
  add_train_flags(flags, config);
  config.data_parallel = true;
  try {
    if (!flags.parse(argc, argv)) return 0;
    TrainOutcome r = train(config);
    if (tg::distributed::world().rank() != 0) return r.status == "finished" ? 0 : 3;  // rank 0 reports
    if (r.paused) {
      std::printf("%s: paused after epoch %lld of %lld (test accuracy %.2f%%); run the same command again to resume\n",
                  r.run_dir.c_str(), static_cast<long long>(r.epochs_done), static_cast<long long>(config.epochs),
                  r.test_accuracy);
      return 0;
    }
    std::printf("%s: %s after %lld epochs: test accuracy %.2f%%, test loss (tau = 1) %.4f, "
                "inputs with an exactly-zero gradient %.1f%%",
                r.run_dir.c_str(), r.status.c_str(), static_cast<long long>(r.epochs_done), r.test_accuracy,
                r.test_loss, 100.0 * r.zero_grad_fraction);
    if (!r.reused) std::printf(", %.0f images/s", r.images_per_second);
    std::printf("\n");
    return r.status == "finished" ? 0 : 3;
  } catch (const tg::Error& e) {
    std::fprintf(stderr, "train: error: %s\n", e.what());
    return 2;
  }
}
