// table1: the paper's Table I on the user's data: a model trained from scratch with CE(z / tau, y) at
// each temperature tau, evaluated at tau = 1 (clean, -C, PGD-20, C&W, the verdict on them, then
// APGD-CE, APGD-DLR, APGD-T, Square, the worst case, gradient-masking diagnostics and calibration);
// experiments/runner/sweep.h runs the sweep and writes table.md, table.csv, table.png and the eps
// sweeps (eps_sweep.csv, eps_sweep.png).
//   --profile paper: ResNet-50 (CIFAR stem) on CIFAR-10, SGD lr 0.1 momentum 0.9 wd 5e-4, cosine, 200
//     epochs, batch 128, every test image attacked with the references' budgets, severities 1-5, eps sweep.
//   --profile quick (the quickstart): table1_profile's recipe, cnn_small on all of Fashion-MNIST.
// Explicit flags override the profile.
#include "experiments/runner/sweep.h"
#include "experiments/runner/verdict.h"

using namespace tg::runner;

int main(int argc, char** argv) {
  SweepBinary b;
  b.name = "table1";
  b.summary =
      "Table I: trains a model at each temperature tau with CE(z / tau, y), evaluates each at tau = 1 (clean, -C,\n"
      "PGD-20, C&W, the verdict, APGD-CE, APGD-DLR, APGD-T, Square, worst case, masking diagnostics, calibration)\n"
      "and writes table.md, table.csv, table.png, eps_sweep.csv and eps_sweep.png. Finished runs are reused,\n"
      "killed ones resumed.\n" +
      verdict_rule_text() + "\nExample: table1 --profile quick";
  b.paper = "ResNet-50 on CIFAR-10, 200 epochs, full attacks";
  b.quick = "Fashion-MNIST (all 60,000 training and 10,000 test images), cnn_small, tau 1,50, Adam lr 0.002 "
            "without weight decay, 2 epochs; attacks on 200 test images, eps sweep 0,4,8,16 /255";
  b.apply_profile = [](bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t, EvalConfig& e) {
    table1_profile(quick, given, o, t);
    if (quick && !given("sweep-eps")) e.sweep_eps = {0, 4, 8, 16};  // PGD-20 and the worst case against eps
  };
  return sweep_main(b, argc, argv);
}
