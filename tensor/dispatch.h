// The one dispatcher: routes a kernel call to tg::cpu or tg::cuda by the device of a tensor, and
// counts the launch under the kernel's name (tensor/kernel_counts.h).
#pragma once

#include "tensor/kernel_counts.h"
#include "tensor/kernels.h"

#define TG_COUNT_LAUNCH(kernel)                                       \
  do {                                                                \
    static ::tg::KernelCounter tg_launches_(#kernel);                 \
    tg_launches_.count.fetch_add(1, std::memory_order_relaxed);       \
  } while (0)

#ifdef TAUGRAD_CUDA
#define TG_DISPATCH(device, kernel, ...)                \
  do {                                                  \
    TG_COUNT_LAUNCH(kernel);                            \
    if ((device).is_cuda()) {                           \
      ::tg::cuda::kernel(__VA_ARGS__);                  \
    } else {                                            \
      ::tg::cpu::kernel(__VA_ARGS__);                   \
    }                                                   \
  } while (0)
#else
#define TG_DISPATCH(device, kernel, ...)                \
  do {                                                  \
    TG_COUNT_LAUNCH(kernel);                            \
    if ((device).is_cuda()) ::tg::require_cuda(#kernel); \
    ::tg::cpu::kernel(__VA_ARGS__);                     \
  } while (0)
#endif
