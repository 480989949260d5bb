// The precision policy of a run (docs/ARCHITECTURE.md, "Mixed precision"): which arithmetic the GEMMs
// and convolutions of Linear, Conv2d and attention use, and the dtype of the activations between them.
// Master weights, optimizer state, softmax, cross-entropy, norm parameters and statistics, the logits
// and the loss are float32 under every policy.
//   fp32  float32 operands, full float32 (TF32 off on the GPU)
//   tf32  float32 operands, TF32 tensor cores on the GPU (the same as fp32 on the CPU)
//   bf16  operands cast to bfloat16, products accumulated in float32. A convolutional network's
//         activations stay bfloat16 from the first conv to the pooled features (BN, ReLU, the residual
//         adds and the pools run on bf16, computing in float); a ViT's residual stream stays float32
//         and the layers that feed a GEMM give bf16 (Linear and LayerNorm's bf16_output: qkv, fc1,
//         norm1/norm2). Classifier heads give float32 logits. The CPU runs the same numerics by
//         emulation (rounded operands, float32 arithmetic).
#pragma once

#include <string>

#include "tensor/device.h"
#include "tensor/dtype.h"

namespace tg::nn {

enum class Precision : uint8_t { fp32, tf32, bf16 };

const char* precision_name(Precision p);
// "fp32", "tf32" or "bf16"; anything else throws, naming `flag` and the choices.
Precision parse_precision(const std::string& name, const std::string& flag);
// bf16 on a GPU with bf16 tensor cores (compute capability >= 8.0), fp32 otherwise (the CPU).
Precision default_precision(Device d);
// Sets the GPU's TF32 switch for p: on for tf32, off for fp32 and bf16 (whose remaining float32 GEMMs
// stay exact).
void apply_tf32(Precision p);

}  // namespace tg::nn
