// table2: the paper's Table II: ViT-S/16 fine-tuned with Adam from timm's ImageNet-21k checkpoint
// (given by --pretrained, a .safetensors of timm's vit_small_patch16_224; the head is replaced and an
// RGB patch embedding is summed over colour for gray datasets) at each temperature tau, evaluated at
// tau = 1 like table1. Without a checkpoint it says so and trains the ViT from scratch.
//   --profile paper: vit_small_patch16_224 on CIFAR-10 (images resized to 224, bicubic), Adam lr 1e-4,
//     no weight decay, cosine, 10 epochs, batch 128, every test image attacked, severities 1-5, eps sweep.
//   --profile quick: Fashion-MNIST, vit_tiny_patch4_32 (from scratch: no checkpoint exists for it),
//     tau 1, 50, 2 epochs on 2k images, 500 test images, attacks on 100 of them.
// Explicit flags override the profile.
#include <cstdio>

#include "experiments/runner/sweep.h"
#include "util/error.h"

using namespace tg::runner;

int main(int argc, char** argv) {
  SweepBinary b;
  b.name = "table2";
  b.summary =
      "Table II: fine-tunes ViT-S/16 from a timm checkpoint (--pretrained) with Adam at each temperature tau,\n"
      "with CE(z / tau, y), evaluates each at tau = 1 as table1 does and writes table.md, table.csv and table.png.\n"
      "Without --pretrained the ViT is trained from scratch (and the run says so).\n"
      "Example: table2 --pretrained vit_small_patch16_224.augreg_in21k.safetensors --dataset cifar10";
  b.paper = "ViT-S/16 on CIFAR-10 at 224, Adam lr 1e-4, 10 epochs, full attacks";
  b.quick = "Fashion-MNIST, ViT-Ti/4 at 32 from scratch, tau 1,50, 2 epochs on 2k images, attacks on 100 test images";
  b.add_flags = [](Flags& f, SweepOptions&, TrainConfig& t) {
    f.add("pretrained", &t.init, "timm's vit_small_patch16_224 checkpoint (.safetensors) to fine-tune, on inputs normalized "
                                 "as timm trained it (0.5/0.5; --normalize overrides); the same as --init");
  };
  b.apply_profile = [](bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t, EvalConfig& e) {
    table2_profile(quick, given, o, t);
    if (quick && !given("attack-subset")) e.attack_subset = 100;
  };
  b.check = [](const SweepOptions&, const TrainConfig& t) {
    if (t.init.empty()) {
      std::fprintf(stderr,
                   "table2: no --pretrained checkpoint: training %s from scratch. The paper fine-tunes timm's\n"
                   "  ImageNet-21k ViT-S/16; pass its .safetensors with --pretrained to do the same.\n",
                   t.model.c_str());
      return;
    }
    TG_CHECK(file_exists(t.init), "--pretrained: ", t.init, " does not exist");
  };
  return sweep_main(b, argc, argv);
}
