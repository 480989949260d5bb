#include "nn/models/factory.h"

#include <algorithm>
#include <cmath>

#include "tensor/ops.h"

namespace tg::nn {

std::vector<std::pair<std::string, std::string>> model_names() {
  return {
      {"resnet18", "ResNet-18, imagenet stem (7x7/2 conv + max pool), 11.7M params at 1000 classes"},
      {"resnet34", "ResNet-34, imagenet stem"},
      {"resnet50", "ResNet-50 (Bottleneck v1.5), imagenet stem, 25.6M params at 1000 classes"},
      {"resnet18_cifar", "ResNet-18, cifar stem (3x3/1 conv, no max pool)"},
      {"resnet34_cifar", "ResNet-34, cifar stem"},
      {"resnet50_cifar", "ResNet-50, cifar stem, 23.5M params at 10 classes"},
      {"resnet20", "ResNet-20 (He et al. 2016, option-A shortcuts), 0.27M params, for quick CPU runs"},
      {"cnn_small", "4 conv-BN-ReLU stages (32/64/128/256) + global pool + Linear, 0.39M params, the quickstart's model"},
      {"vit_small_patch16_224", "ViT-S/16 (dim 384, depth 12, 6 heads), 22.1M params at 1000 classes"},
      {"vit_tiny_patch16_224", "ViT-Ti/16 (dim 192, depth 12, 3 heads)"},
      {"vit_small_patch4_32", "ViT-S with 4x4 patches for 32x32 inputs (from scratch)"},
      {"vit_tiny_patch4_32", "ViT-Ti with 4x4 patches for 32x32 inputs (from scratch)"},
  };
}

std::shared_ptr<Module> create_model(const std::string& name, int64_t num_classes, int64_t in_channels,
                                     int64_t image_size, const std::string& dataset, Generator* gen) {
  const DatasetStats stats = dataset.empty() ? DatasetStats{{0.0}, {1.0}} : dataset_stats(dataset);
  auto resnet = [&](ResNetConfig c) {
    c.num_classes = num_classes;
    c.in_channels = in_channels;
    c.stats = stats;
    return std::make_shared<ResNet>(c, gen);
  };
  auto vit = [&](ViTConfig c) {
    if (image_size > 0) c.image_size = image_size;
    c.num_classes = num_classes;
    c.in_channels = in_channels;
    c.stats = stats;
    return std::make_shared<VisionTransformer>(c, gen);
  };
  const ResNetStem in = ResNetStem::imagenet, cf = ResNetStem::cifar;
  if (name == "resnet18") return resnet(resnet18_config(in));
  if (name == "resnet34") return resnet(resnet34_config(in));
  if (name == "resnet50") return resnet(resnet50_config(in));
  if (name == "resnet18_cifar") return resnet(resnet18_config(cf));
  if (name == "resnet34_cifar") return resnet(resnet34_config(cf));
  if (name == "resnet50_cifar") return resnet(resnet50_config(cf));
  if (name == "resnet20") return resnet(resnet20_config());
  if (name == "cnn_small") return std::make_shared<SmallCnn>(CnnConfig{{32, 64, 128, 256}, num_classes, in_channels, stats}, gen);
  if (name == "vit_small_patch16_224") return vit(vit_small_config(16, 224));
  if (name == "vit_tiny_patch16_224") return vit(vit_tiny_config(16, 224));
  if (name == "vit_small_patch4_32") return vit(vit_small_config(4, 32));
  if (name == "vit_tiny_patch4_32") return vit(vit_tiny_config(4, 32));
  std::string known;
  for (const auto& [n, d] : model_names()) known += (known.empty() ? "" : ", ") + n;
  TG_FAIL("create_model: unknown model '", name, "' (known: ", known, ")");
}

// Bilinear, align_corners = false: source coordinate (i + 0.5) * in / out - 0.5, clamped at 0.
Tensor resize_pos_embed(const Tensor& pos_embed, int64_t new_gh, int64_t new_gw) {
  TG_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1, "resize_pos_embed: expected [1, 1 + g*g, D], got ",
           pos_embed.str());
  const int64_t n = pos_embed.size(1) - 1, D = pos_embed.size(2);
  const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n))));
  TG_CHECK(g * g == n, "resize_pos_embed: ", n, " patch positions are not a square grid");
  std::vector<double> src = pos_embed.to(DType::f64).cpu().to_vector<double>();
  std::vector<double> dst(static_cast<size_t>((1 + new_gh * new_gw) * D));
  std::copy(src.begin(), src.begin() + D, dst.begin());  // class token
  auto coord = [](int64_t i, int64_t in, int64_t out, int64_t& i0, int64_t& i1, double& w1) {
    double s = std::max(0.0, (i + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5);
    i0 = std::min(static_cast<int64_t>(s), in - 1);
    i1 = std::min(i0 + 1, in - 1);
    w1 = s - static_cast<double>(i0);
  };
  for (int64_t y = 0; y < new_gh; ++y) {
    int64_t y0, y1;
    double wy;
    coord(y, g, new_gh, y0, y1, wy);
    for (int64_t x = 0; x < new_gw; ++x) {
      int64_t x0, x1;
      double wx;
      coord(x, g, new_gw, x0, x1, wx);
      const double* p00 = &src[(1 + y0 * g + x0) * D];
      const double* p01 = &src[(1 + y0 * g + x1) * D];
      const double* p10 = &src[(1 + y1 * g + x0) * D];
      const double* p11 = &src[(1 + y1 * g + x1) * D];
      double* out = &dst[(1 + y * new_gw + x) * D];
      for (int64_t d = 0; d < D; ++d)
        out[d] = (1 - wy) * ((1 - wx) * p00[d] + wx * p01[d]) + wy * ((1 - wx) * p10[d] + wx * p11[d]);
    }
  }
  return Tensor::from_vector(dst, {1, 1 + new_gh * new_gw, D}).to(pos_embed.dtype()).to(pos_embed.device());
}

namespace {
bool is_input_conv(const std::string& name) { return name == "patch_embed.proj.weight" || name == "conv1.weight"; }
}  // namespace

StateDict adapt_state_dict(const Module& model, const StateDict& checkpoint, std::vector<std::string>* changed) {
  const StateDict own = model.state_dict();
  StateDict out;
  for (const auto& [name, t] : checkpoint) {
    const Tensor* mine = find(own, name);
    if (!mine || mine->shape() == t.shape()) {
      out.emplace_back(name, t);
      continue;
    }
    const bool head = name == "fc.weight" || name == "fc.bias" || name == "head.weight" || name == "head.bias";
    if (head) {
      out.emplace_back(name, *mine);
    } else if (name == "pos_embed" && t.dim() == 3 && mine->dim() == 3 && t.size(2) == mine->size(2)) {
      const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(mine->size(1) - 1))));
      TG_CHECK(g * g + 1 == mine->size(1), "adapt_state_dict: the model's pos_embed ", mine->str(),
               " is not a square grid");
      out.emplace_back(name, resize_pos_embed(t, g, g));
    } else if (is_input_conv(name) && t.dim() == 4 && mine->dim() == 4 && t.size(1) == 3 && mine->size(1) == 1 &&
               t.size(0) == mine->size(0) && t.size(2) == mine->size(2) && t.size(3) == mine->size(3)) {
      // An RGB stem on gray images: the filters summed over colour (timm's adapt_input_conv), so a
      // gray image x gives what the RGB model gives on (x, x, x).
      out.emplace_back(name, sum(t, {1}, /*keepdim=*/true));
    } else {
      out.emplace_back(name, t);
      continue;
    }
    if (changed) changed->push_back(name);
  }
  return out;
}

}  // namespace tg::nn
