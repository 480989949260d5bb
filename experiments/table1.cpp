// table1: the paper's Table I on the user's data: a model trained from scratch with CE(z / tau, y) at
// each temperature tau, evaluated at tau = 1 (clean, -C, PGD-20, C&W, then APGD-CE, APGD-DLR, APGD-T,
// Square, the worst case, gradient-masking diagnostics and calibration); experiments/runner/sweep.h
// runs the sweep and writes table.md, table.csv and table.png.
//   --profile paper: ResNet-50 (CIFAR stem) on CIFAR-10, SGD lr 0.1 momentum 0.9 wd 5e-4, cosine, 200
//     epochs, batch 128, every test image attacked with the references' budgets, severities 1-5, eps sweep.
//   --profile quick: Fashion-MNIST, ResNet-20, tau 1, 10, 50, 2 epochs on 10k images, 2k test images,
//     attacks on 200 of them (APGD 25 iterations, Square 300 queries), generated -C at severity 3.
// Explicit flags override the profile.
#include "experiments/runner/sweep.h"

using namespace tg::runner;

int main(int argc, char** argv) {
  SweepBinary b;
  b.name = "table1";
  b.summary =
      "Table I: trains a model at each temperature tau with CE(z / tau, y), evaluates each at tau = 1 (clean, -C,\n"
      "PGD-20, C&W, APGD-CE, APGD-DLR, APGD-T, Square, worst case, masking diagnostics, calibration) and writes\n"
      "table.md, table.csv and table.png. Finished runs are reused, killed ones resumed.\n"
      "Example: table1 --profile quick";
  b.paper = "ResNet-50 on CIFAR-10, 200 epochs, full attacks";
  b.quick = "Fashion-MNIST, ResNet-20, tau 1,10,50, 2 epochs on 10k images, attacks on 200 test images";
  b.apply_profile = [](bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t, EvalConfig&) {
    table1_profile(quick, given, o, t);
  };
  return sweep_main(b, argc, argv);
}
