// The models taugrad builds, by name: one table (model_registry) with each model's description, input
// size, the normalization of its published checkpoints, and its builder. Adding a model is one entry.
//
// The input contract: a model takes float32 pixels in [0, 1] at its input size and normalizes them
// itself (its first layer, Normalize, with `stats`). Normalize's statistics are not weights (not in
// state_dict), so our model.safetensors records the contract in its `__metadata__` (input_size, mean,
// std), and whoever runs the weights again builds the model with the same contract.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nn/layers.h"
#include "nn/module.h"

namespace tg::nn {

struct InputContract {
  int64_t input_size = 0;              // the side of the square images it takes; 0 = any size
  DatasetStats stats = {{0.0}, {1.0}};  // Normalize's mean and std (one value, or one per channel)
};

// What create_model hands a builder.
struct ModelArgs {
  int64_t num_classes = 10, in_channels = 3;
  InputContract input;        // input.input_size 0: the model's own size (ModelSpec::input_size)
  Generator* gen = nullptr;   // initialization draws from it (nullptr: the default generator)
};

struct ModelSpec {
  std::string name, description;
  int64_t input_size = 0;  // the size it is built for when ModelArgs does not say (ViTs); 0 = any (ResNets)
  // The normalization its published checkpoints were trained with: torchvision's ResNets ImageNet's
  // mean/std, timm's vit_*_patch16_224 (augreg, ImageNet-21k) mean = std = 0.5. Fine-tuning from a
  // checkpoint that does not record its own contract uses it. nullopt: no published checkpoint.
  std::optional<DatasetStats> checkpoint_stats;
  std::function<std::shared_ptr<Module>(const ModelArgs&)> build;
};

// Every model, in --help order.
const std::vector<ModelSpec>& model_registry();
// The entry called `name`; throws naming the known models when there is none.
const ModelSpec& model_spec(const std::string& name);
// "resnet20 | resnet18 | ..." (for --help texts).
std::string model_list();

std::shared_ptr<Module> create_model(const std::string& name, const ModelArgs& args);
// The same with Normalize's statistics by dataset name (dataset_stats names; "" = mean 0, std 1).
std::shared_ptr<Module> create_model(const std::string& name, int64_t num_classes, int64_t in_channels = 3,
                                     int64_t image_size = 0, const std::string& dataset = "",
                                     Generator* gen = nullptr);

// The contract as safetensors metadata: {"input_size": "224", "mean": "0.5,0.5,0.5", "std": ...}.
std::map<std::string, std::string> contract_metadata(const InputContract& contract);
// The contract a file's metadata records; nullopt when it records none (timm's, torchvision's files,
// ours from before). A malformed one throws, naming `path` and the key.
std::optional<InputContract> contract_from_metadata(const std::map<std::string, std::string>& metadata,
                                                    const std::string& path);
// "0.5,0.5" -> {0.5, 0.5}; throws naming `what` on anything but comma-separated finite numbers.
std::vector<double> parse_numbers(const std::string& text, const std::string& what);

}  // namespace tg::nn
