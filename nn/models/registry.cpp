#include "nn/models/registry.h"

#include <charconv>
#include <cmath>
#include <sstream>

#include "nn/models/cnn.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"

namespace tg::nn {

namespace {

ModelSpec resnet(std::string name, std::string description, ResNetConfig config,
                 std::optional<DatasetStats> checkpoint_stats = std::nullopt) {
  auto build = [config](const ModelArgs& a) {
    ResNetConfig c = config;
    c.num_classes = a.num_classes;
    c.in_channels = a.in_channels;
    c.stats = a.input.stats;
    return std::make_shared<ResNet>(c, a.gen);
  };
  return {std::move(name), std::move(description), 0, std::move(checkpoint_stats), build};
}

ModelSpec vit(std::string name, std::string description, ViTConfig config,
              std::optional<DatasetStats> checkpoint_stats = std::nullopt) {
  auto build = [config](const ModelArgs& a) {
    ViTConfig c = config;
    c.image_size = a.input.input_size;
    c.num_classes = a.num_classes;
    c.in_channels = a.in_channels;
    c.stats = a.input.stats;
    return std::make_shared<VisionTransformer>(c, a.gen);
  };
  return {std::move(name), std::move(description), config.image_size, std::move(checkpoint_stats), build};
}

}  // namespace

// One entry per model. Another family adds its own: ModelSpec{name, description, input size,
// checkpoint stats, [](const ModelArgs& a) { return std::make_shared<MyNet>(...); }}.
const std::vector<ModelSpec>& model_registry() {
  static const std::vector<ModelSpec> models = [] {
    const ResNetStem in = ResNetStem::imagenet, cf = ResNetStem::cifar;
    const DatasetStats torchvision = dataset_stats("imagenet"), timm_in21k = {{0.5}, {0.5}};
    return std::vector<ModelSpec>{
        resnet("resnet20", "ResNet-20 (He et al. 2016, option-A shortcuts), 0.27M params, for quick CPU runs",
               resnet20_config()),
        {"cnn_small", "4 conv-BN-ReLU stages (32/64/128/256) + global pool + Linear, 0.39M params, the quickstart's model",
         0, std::nullopt,
         [](const ModelArgs& a) {
           return std::make_shared<SmallCnn>(CnnConfig{{32, 64, 128, 256}, a.num_classes, a.in_channels, a.input.stats},
                                             a.gen);
         }},
        resnet("resnet18", "ResNet-18, imagenet stem (7x7/2 conv + max pool), 11.7M params at 1000 classes",
               resnet18_config(in), torchvision),
        resnet("resnet34", "ResNet-34, imagenet stem", resnet34_config(in), torchvision),
        resnet("resnet50", "ResNet-50 (Bottleneck v1.5), imagenet stem, 25.6M params at 1000 classes",
               resnet50_config(in), torchvision),
        resnet("resnet18_cifar", "ResNet-18, cifar stem (3x3/1 conv, no max pool)", resnet18_config(cf)),
        resnet("resnet34_cifar", "ResNet-34, cifar stem", resnet34_config(cf)),
        resnet("resnet50_cifar", "ResNet-50, cifar stem, 23.5M params at 10 classes", resnet50_config(cf)),
        vit("vit_small_patch16_224", "ViT-S/16 (dim 384, depth 12, 6 heads), 22.1M params at 1000 classes",
            vit_small_config(16, 224), timm_in21k),
        vit("vit_tiny_patch16_224", "ViT-Ti/16 (dim 192, depth 12, 3 heads)", vit_tiny_config(16, 224), timm_in21k),
        vit("vit_small_patch4_32", "ViT-S with 4x4 patches for 32x32 inputs (from scratch)", vit_small_config(4, 32)),
        vit("vit_tiny_patch4_32", "ViT-Ti with 4x4 patches for 32x32 inputs (from scratch)", vit_tiny_config(4, 32)),
    };
  }();
  return models;
}

std::string model_list() {
  std::string out;
  for (const ModelSpec& m : model_registry()) out += (out.empty() ? "" : " | ") + m.name;
  return out;
}

const ModelSpec& model_spec(const std::string& name) {
  for (const ModelSpec& m : model_registry())
    if (m.name == name) return m;
  TG_FAIL("unknown model '", name, "' (known: ", model_list(), ")");
}

std::shared_ptr<Module> create_model(const std::string& name, const ModelArgs& args) {
  const ModelSpec& spec = model_spec(name);
  ModelArgs a = args;
  if (a.input.input_size == 0) a.input.input_size = spec.input_size;
  return spec.build(a);
}

std::shared_ptr<Module> create_model(const std::string& name, int64_t num_classes, int64_t in_channels,
                                     int64_t image_size, const std::string& dataset, Generator* gen) {
  InputContract input{image_size, dataset.empty() ? DatasetStats{{0.0}, {1.0}} : dataset_stats(dataset)};
  return create_model(name, ModelArgs{num_classes, in_channels, input, gen});
}

// ---- the input contract as metadata ----

namespace {

// Shortest text that reads back as the same double.
std::string join(const std::vector<double>& values) {
  std::string out;
  for (double v : values) {
    char buf[32];
    auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    if (!out.empty()) out += ',';
    out.append(buf, end);
  }
  return out;
}

}  // namespace

std::vector<double> parse_numbers(const std::string& text, const std::string& what) {
  std::vector<double> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    double v = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    TG_CHECK(ec == std::errc() && end == item.data() + item.size() && !item.empty() && std::isfinite(v), what, ": '",
             text, "' is not a comma-separated list of numbers");
    out.push_back(v);
  }
  TG_CHECK(!out.empty(), what, ": no numbers in '", text, "'");
  return out;
}

std::map<std::string, std::string> contract_metadata(const InputContract& c) {
  return {{"input_size", std::to_string(c.input_size)}, {"mean", join(c.stats.mean)}, {"std", join(c.stats.std)}};
}

std::optional<InputContract> contract_from_metadata(const std::map<std::string, std::string>& metadata,
                                                    const std::string& path) {
  auto mean = metadata.find("mean"), stdev = metadata.find("std"), size = metadata.find("input_size");
  if (mean == metadata.end() && stdev == metadata.end()) return std::nullopt;
  TG_CHECK(mean != metadata.end() && stdev != metadata.end() && size != metadata.end(), path,
           ": the metadata records part of an input contract; it needs input_size, mean and std");
  InputContract c;
  c.stats.mean = parse_numbers(mean->second, path + ": metadata 'mean'");
  c.stats.std = parse_numbers(stdev->second, path + ": metadata 'std'");
  const std::vector<double> s = parse_numbers(size->second, path + ": metadata 'input_size'");
  TG_CHECK(s.size() == 1 && s[0] >= 0 && s[0] == std::floor(s[0]), path, ": metadata 'input_size' is '",
           size->second, "', not a size");
  c.input_size = static_cast<int64_t>(s[0]);
  TG_CHECK(c.stats.mean.size() == c.stats.std.size(), path, ": metadata has ", c.stats.mean.size(), " means and ",
           c.stats.std.size(), " stds");
  return c;
}

}  // namespace tg::nn
