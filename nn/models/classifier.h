// The interface the paper's analysis needs from a model (Figs. 1, 2, 3, 6, 7; Eqs. 6 and 10): the
// logits are a linear map of a feature vector, z = W f(x) + b. f(x) is the penultimate feature vector
// and the rows w_j of W are the class prototypes.
#pragma once

#include "nn/layers.h"

namespace tg::nn {

class Classifier : public Module {
 public:
  using Module::Module;
  // f(x): [N, D], the vector the last linear layer multiplies.
  virtual Variable features(const Variable& x) = 0;
  // The last linear layer: weight [classes, D] (row j is class j's prototype), bias [classes].
  virtual Linear& classifier() = 0;
  Variable forward(const Variable& x) override { return classifier().forward(features(x)); }
};

}  // namespace tg::nn
