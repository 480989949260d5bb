// The one dispatcher: routes a kernel call to tg::cpu or tg::cuda by the device of a tensor.
#pragma once

#include "tensor/kernels.h"

#ifdef TAUGRAD_CUDA
#define TG_DISPATCH(device, kernel, ...)                \
  do {                                                  \
    if ((device).is_cuda()) {                           \
      ::tg::cuda::kernel(__VA_ARGS__);                  \
    } else {                                            \
      ::tg::cpu::kernel(__VA_ARGS__);                   \
    }                                                   \
  } while (0)
#else
#define TG_DISPATCH(device, kernel, ...)                \
  do {                                                  \
    if ((device).is_cuda()) ::tg::require_cuda(#kernel); \
    ::tg::cpu::kernel(__VA_ARGS__);                     \
  } while (0)
#endif
