// Adapting checkpoints (torchvision's, timm's or ours) to the models of the registry.
#pragma once

#include <string>
#include <vector>

#include "nn/models/registry.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"

namespace tg::nn {

// pos_embed [1, 1 + g*g, D] (square grid g) -> [1, 1 + gh*gw, D]: the class token kept, the grid
// resized bilinearly (align_corners = false, as torch.nn.functional.interpolate).
Tensor resize_pos_embed(const Tensor& pos_embed, int64_t new_gh, int64_t new_gw);

// Makes a checkpoint fit `model` before load_state_dict: a classifier head (fc.* / head.*) whose
// shape differs is replaced by the model's own (freshly initialized) one, and a pos_embed whose grid
// differs is resized, and an RGB input layer (patch_embed.proj.weight, conv1.weight) is summed over
// its colour channels for a one-channel model. Every other entry is passed through unchanged (mismatches then fail in load).
// `changed` (optional) receives the names that were replaced or resized.
StateDict adapt_state_dict(const Module& model, const StateDict& checkpoint,
                           std::vector<std::string>* changed = nullptr);

}  // namespace tg::nn
