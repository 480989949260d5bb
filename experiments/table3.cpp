// table3: the paper's Table III: PGD adversarial training with a tempered clean term (its Eq. 12),
// L = CE(F(x) / tau, y) + CE(F(x_adv), y), x_adv by PGD-10 (eps 8/255, step 2/255, random start, the
// model in train mode), at each temperature tau; first, as the baseline row "PGD-AT", Madry et al.'s
// PGD-AT, L = CE(F(x_adv), y). Each run is evaluated at tau = 1 like table1.
//   --profile paper: ResNet-50 (CIFAR stem) on CIFAR-10 with Table I's recipe (SGD lr 0.1, momentum 0.9,
//     wd 5e-4, cosine, 200 epochs, batch 128), every test image attacked, severities 1-5, eps sweep.
//   --profile quick: Fashion-MNIST, ResNet-20, tau 1, 50 and the baseline, 1 epoch on 2k images, 1k test
//     images, attacks on 200 of them.
// Explicit flags override the profile.
#include "experiments/runner/sweep.h"
#include "util/error.h"

using namespace tg::runner;

int main(int argc, char** argv) {
  SweepBinary b;
  b.name = "table3";
  b.summary =
      "Table III: adversarial training with a tempered clean term, CE(F(x) / tau, y) + CE(F(x_adv), y) (x_adv by\n"
      "PGD-10 at eps 8/255), at each temperature tau, and Madry's PGD-AT as a baseline; evaluates each at tau = 1\n"
      "as table1 does and writes table.md, table.csv and table.png.\n"
      "Example: table3 --profile quick";
  b.paper = "ResNet-50 on CIFAR-10 with Table I's recipe, 200 epochs, full attacks";
  b.quick = "Fashion-MNIST, ResNet-20, tau 1,50 and PGD-AT, 1 epoch on 2k images, attacks on 200 test images";
  b.add_flags = [](Flags& f, SweepOptions& o, TrainConfig& t) {
    o.baseline = true;
    t.adversarial = "tempered";
    f.add("baseline", &o.baseline, "also train Madry's PGD-AT (CE(F(x_adv), y) alone) as the row \"PGD-AT\"");
  };
  b.apply_profile = [](bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t, EvalConfig&) {
    resnet_profile(quick, given, t);
    if (!quick) return;
    if (!given("taus")) o.taus = {1, 50};
    if (!given("epochs")) t.epochs = 1;
    if (!given("train-subset")) t.train_subset = 2000;
    if (!given("test-subset")) t.test_subset = 1000;
  };
  b.check = [](const SweepOptions&, const TrainConfig& t) {
    TG_CHECK(t.adversarial == "tempered", "table3 sweeps tau in the tempered variant (--adversarial tempered); its ",
             "PGD-AT row is Madry's (--baseline); for standard training use table1");
  };
  return sweep_main(b, argc, argv);
}
