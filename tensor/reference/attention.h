// Reference scaled dot-product attention (float64), composed of the reference matmul and softmax:
// the oracle for a fused attention kernel and for the ViT block's composition of primitives.
#pragma once

#include "tensor/tensor.h"

namespace tg::reference {

struct AttentionOutput {
  Tensor out, probs;  // out [B, T, Dv]; probs [B, T, S], saved for the backward
};
struct AttentionGrads {
  Tensor dq, dk, dv;
};
// q [B, T, D], k [B, S, D], v [B, S, Dv] (B: batch times heads).
AttentionOutput attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale);
AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& probs, double scale);

}  // namespace tg::reference
