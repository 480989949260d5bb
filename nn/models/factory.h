// Building models by name, and adapting checkpoints (torchvision's, timm's or ours) to them.
#pragma once

#include <string>
#include <vector>

#include "nn/models/cnn.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"

namespace tg::nn {

// The names create_model accepts, with a one-line description each (for --help).
std::vector<std::pair<std::string, std::string>> model_names();

// name: resnet18|resnet34|resnet50 (imagenet stem) or with "_cifar" (cifar stem), resnet20, cnn_small,
// vit_small_patch16_224, vit_tiny_patch16_224, vit_small_patch4_32, vit_tiny_patch4_32.
// image_size: ViTs are built for it (0: the name's size); ResNets take any size.
// dataset: the Normalize statistics (dataset_stats names); "" = none (mean 0, std 1).
// Initialization draws from `gen` (nullptr: the default generator; tg::manual_seed sets it).
std::shared_ptr<Module> create_model(const std::string& name, int64_t num_classes, int64_t in_channels = 3,
                                     int64_t image_size = 0, const std::string& dataset = "",
                                     Generator* gen = nullptr);

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
