// StateDict: named tensors in order, what checkpoints and safetensors files hold. Modules (nn/) and
// optimizers (optim/) write and read their state as one, so it lives here, below both.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace tg {

// An ordered name -> tensor map.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// Looks a name up; nullptr when absent.
inline const Tensor* find(const StateDict& dict, const std::string& name) {
  for (const auto& [n, t] : dict)
    if (n == name) return &t;
  return nullptr;
}

}  // namespace tg
