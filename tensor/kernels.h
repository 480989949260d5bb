// Declares the kernel list (kernels.inc) in tg::cpu and, in CUDA builds, in tg::cuda.
#pragma once

#include <vector>

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg::cpu {
#include "tensor/kernels.inc"
}

#ifdef TAUGRAD_CUDA
namespace tg::cuda {
#include "tensor/kernels.inc"
}
#endif
