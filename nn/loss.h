// Losses. The tempered cross-entropy CE(z / tau, y) of the study is one fused op
// (tg::cross_entropy, autograd/functions/softmax.cpp): dL/dz = (softmax(z / tau) - target) / tau.
#pragma once

#include "autograd/ops.h"

namespace tg::nn {

// Mean over the batch of CE(logits / tau, labels) with label smoothing eps
// (target = (1 - eps) onehot + eps / C). logits [N, C]; labels int64 [N]; tau > 0.
inline Variable tempered_cross_entropy(const Variable& logits, const Tensor& labels, double tau = 1.0,
                                       double label_smoothing = 0.0) {
  TG_CHECK(tau > 0, "tempered_cross_entropy: tau must be positive, got ", tau);
  TG_CHECK(label_smoothing >= 0 && label_smoothing < 1, "tempered_cross_entropy: label_smoothing must be in [0, 1), got ",
           label_smoothing);
  return cross_entropy(logits, labels, tau, label_smoothing);
}

}  // namespace tg::nn
