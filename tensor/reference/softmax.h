// Reference softmax, log-softmax and the tempered cross-entropy (float64, plain loops), over the
// last axis of [rows, cols]: the oracle for tensor/cpu/softmax.cpp and tensor/cuda/softmax.cu.
#pragma once

#include "tensor/tensor.h"

namespace tg::reference {

Tensor softmax_forward(const Tensor& x, bool log);
Tensor softmax_backward(const Tensor& dy, const Tensor& y, bool log);  // y: the forward output

struct CrossEntropyOutput {
  Tensor losses, probs;  // losses [N], probs = softmax(logits / tau) [N, C]
};
// logits [N, C] float64, labels [N] int64.
CrossEntropyOutput cross_entropy_forward(const Tensor& logits, const Tensor& labels, double tau,
                                         double label_smoothing);
Tensor cross_entropy_backward(const Tensor& dlosses, const Tensor& probs, const Tensor& labels, double tau,
                              double label_smoothing);

}  // namespace tg::reference
