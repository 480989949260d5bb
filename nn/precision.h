// The precision policy of a run (docs/ARCHITECTURE.md, "Mixed precision"): which arithmetic the GEMMs
// and convolutions of Linear, Conv2d and attention use. Everything else (master weights, optimizer
// state, activations between layers, softmax, cross-entropy, norm statistics, the loss) is float32
// under every policy.
//   fp32  float32 operands, full float32 (TF32 off on the GPU)
//   tf32  float32 operands, TF32 tensor cores on the GPU (the same as fp32 on the CPU)
//   bf16  operands cast to bfloat16, products accumulated in float32, float32 outputs (bfloat16 where
//         a layer asks: Linear and LayerNorm's bf16_output); the CPU runs the same numerics by
//         emulation (rounded operands, float32 GEMM)
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
