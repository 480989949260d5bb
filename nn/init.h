// Parameter initialization as torch, torchvision and timm do it, drawn from the seeded Philox
// generator (tensor/random.h): the same seed gives the same weights on the CPU and the GPU.
// Each function fills `t` in place (on its device); nullptr means the default generator.
#pragma once

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg::nn::init {

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (torch's definition).
int64_t fan_in(const Tensor& w);
int64_t fan_out(const Tensor& w);

void uniform_(Tensor& t, double lo, double hi, Generator* gen = nullptr);
void normal_(Tensor& t, double mean, double std, Generator* gen = nullptr);
// Normal(mean, std) redrawn until inside [a, b] (timm's trunc_normal_ defaults: a = -2, b = 2, absolute).
void trunc_normal_(Tensor& t, double std = 0.02, double mean = 0.0, double a = -2.0, double b = 2.0,
                   Generator* gen = nullptr);
void constant_(Tensor& t, double value);

enum class FanMode { fan_in, fan_out };
// Kaiming/He for a ReLU-family nonlinearity with negative slope a: gain = sqrt(2 / (1 + a^2)),
// std = gain / sqrt(fan). Uniform variant: bound = gain * sqrt(3 / fan).
void kaiming_normal_(Tensor& w, FanMode mode = FanMode::fan_out, double a = 0.0, Generator* gen = nullptr);
void kaiming_uniform_(Tensor& w, double a, FanMode mode = FanMode::fan_in, Generator* gen = nullptr);

// torch.nn.Linear / Conv2d reset_parameters: kaiming_uniform_(a = sqrt(5)), so bound = 1/sqrt(fan_in)
// for the weight, and the bias uniform in +-1/sqrt(fan_in). bias may be undefined.
void torch_default_(Tensor& w, Tensor* bias, Generator* gen = nullptr);

}  // namespace tg::nn::init
