// fig4: the paper's Fig. 4, test error per epoch at tau 0.5, 1 and 50 (mean line, min-max band over 6
// seeds), one panel per learning rate (0.1 and 0.01); writes <out-dir>/fig4.png, fig4.svg and fig4.csv
// (experiments/runner/fig4.h). Finished runs are reused, killed ones resumed.
//   --profile paper: ResNet-50 (CIFAR stem) on CIFAR-10, 200 epochs, as table1's paper profile.
//   --profile quick: ResNet-20 on 500 Fashion-MNIST images, 3 epochs of batches of 50,
//   500 test images (CPU).
// Explicit flags override the profile.
#include <cstdio>

#include "experiments/runner/fig4.h"
#include "util/error.h"

using namespace tg::runner;

int main(int argc, char** argv) {
  Fig4Options o;
  o.train.out_dir = o.out_dir;
  Flags f("fig4",
          "Fig. 4: test error per epoch while training with CE(z / tau, y) at each tau (mean line, min-max band\n"
          "over the seeds), a panel per learning rate. Writes <out-dir>/fig4.png, fig4.svg and fig4.csv; the runs\n"
          "go to <out-dir>/runs/. Finished runs are reused, killed ones resumed.\n"
          "Example: fig4 --profile quick");
  f.add("profile", &o.profile,
        "paper (ResNet-50 cifar stem on CIFAR-10, 200 epochs) | quick (ResNet-20 on 500 Fashion-MNIST images, "
        "3 epochs, batch 50, 500 test images); explicit flags override it");
  f.add("taus", &o.taus, "training temperatures, a line each");
  f.add("lrs", &o.lrs, "SGD learning rates, a panel each");
  f.add("seeds", &o.seeds, "seeds, one run per lr, tau and seed (the band is their min-max)");
  add_train_flags(f, o.train);
  try {
    if (!f.parse(argc, argv, &o.given.names)) return 0;
    TG_CHECK(!o.given("tau") && !o.given("lr") && !o.given("seed") && !o.given("run-id"),
             "give --taus, --lrs and --seeds (each run is named by its lr, tau and seed), not --tau, --lr, "
             "--seed or --run-id");
    o.out_dir = o.train.out_dir;
    make_fig4(o);
  } catch (const tg::Error& err) {
    std::fprintf(stderr, "fig4: error: %s\n", err.what());
    return 2;
  }
  return 0;
}
