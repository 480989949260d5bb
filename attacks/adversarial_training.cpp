// Adversarial training step (PGD-10) and the tempered variant (paper Eq. 12).
#include "attacks/adversarial_training.h"

#include "util/error.h"

namespace tg::attacks {

AdversarialLoss adversarial_loss(nn::Module& model, const Tensor& x, const Tensor& y, Generator& gen,
                                 const AdvTrainOptions& o) {
  TG_CHECK(o.tau > 0, "adversarial_loss: tau must be positive, got ", o.tau);
  model.train();
  ModelFn f = [&model](const Variable& v) { return model.forward(v); };
  PgdOptions p;
  p.eps = o.eps;
  p.step_size = o.step_size;
  p.steps = o.steps;
  p.random_start = o.random_start;
  const Tensor x_adv = pgd(f, x, y, p, gen).x_adv;

  AdversarialLoss out;
  out.logits = model.forward(Variable(x_adv));
  out.loss = cross_entropy(out.logits, y, 1.0);
  if (o.tempered) out.loss = add(cross_entropy(model.forward(Variable(x)), y, o.tau), out.loss);
  return out;
}

double adversarial_training_step(nn::Module& model, optim::Optimizer& optimizer, const Tensor& x, const Tensor& y,
                                 Generator& gen, const AdvTrainOptions& o) {
  Variable loss = adversarial_loss(model, x, y, gen, o).loss;
  optimizer.zero_grad();
  loss.backward();
  optimizer.step();
  return loss.item();
}

}  // namespace tg::attacks
