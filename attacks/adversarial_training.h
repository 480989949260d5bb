// Adversarial training (Madry et al. 2018): one optimizer step on adversarial examples crafted by
// PGD-10 (eps 8/255, step 2/255, uniform random start, CE at tau = 1), and the paper's tempered
// variant (Eq. 12): L = CE(F(x) / tau, y) + CE(F(x_adv), y).
// The model is put in TRAIN mode and stays in it: as in Madry et al., the adversarial examples are
// crafted with the training-mode model (batch statistics; BatchNorm running statistics are updated by
// the crafting passes too). Crafting uses input gradients only (tg::grad), so it does not touch the
// parameters' .grad; the step then zeroes the gradients, back-propagates L and steps the optimizer.
#pragma once

#include "attacks/pgd.h"
#include "nn/module.h"
#include "optim/optimizer.h"

namespace tg::attacks {

struct AdvTrainOptions {
  double eps = 8.0 / 255;
  double step_size = 2.0 / 255;
  int steps = 10;
  bool random_start = true;
  bool tempered = false;  // Eq. 12: add CE(F(x) / tau, y) on the clean batch
  double tau = 1.0;       // the clean term's temperature (tempered only)
};

// The adversarial training loss on a batch (x pixels in [0, 1], y int64 labels): crafts x_adv with
// PGD on the training-mode model, then L = CE(F(x_adv), y), plus CE(F(x) / tau, y) when tempered.
// `logits` are F(x_adv), the logits the loss trains on (for a robust training accuracy).
struct AdversarialLoss {
  Variable loss;
  Variable logits;
};
AdversarialLoss adversarial_loss(nn::Module& model, const Tensor& x, const Tensor& y, Generator& gen,
                                 const AdvTrainOptions& options = {});

// One optimizer step on adversarial_loss; returns the loss L before the step.
double adversarial_training_step(nn::Module& model, optim::Optimizer& optimizer, const Tensor& x, const Tensor& y,
                                 Generator& gen, const AdvTrainOptions& options = {});

}  // namespace tg::attacks
