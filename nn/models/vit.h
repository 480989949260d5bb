// Vision Transformer with timm's module names (patch_embed.proj, cls_token, pos_embed, blocks.N.norm1,
// blocks.N.attn.qkv, blocks.N.attn.proj, blocks.N.norm2, blocks.N.mlp.fc1, blocks.N.mlp.fc2, norm,
// head), so timm checkpoints load as they are. Pre-norm blocks, class token, learned absolute
// position embeddings, LayerNorm eps 1e-6, exact GELU, head on the class token (timm's
// VisionTransformer with global_pool="token"). The first layer is Normalize (not in state_dict).
// Initialization as timm's "timm" mode: pos_embed trunc_normal(.02), cls_token normal(1e-6),
// Linear weights trunc_normal(.02) with zero bias, LayerNorm 1/0, patch conv torch's default.
#pragma once

#include "nn/layers.h"
#include "nn/models/classifier.h"

namespace tg::nn {

struct ViTConfig {
  int64_t image_size = 224, patch = 16, in_channels = 3, num_classes = 1000;
  int64_t dim = 384, depth = 12, heads = 6, mlp_hidden = 1536;
  double ln_eps = 1e-6;
  DatasetStats stats = {{0.0}, {1.0}};
};

// fc1 -> GELU -> fc2.
class Mlp : public Module {
 public:
  Mlp(int64_t dim, int64_t hidden, Generator* gen);
  Variable forward(const Variable& x) override { return fc2->forward(gelu(fc1->forward(x))); }
  std::shared_ptr<Linear> fc1, fc2;
};

// x = x + attn(norm1(x)); x = x + mlp(norm2(x)).
class ViTBlock : public Module {
 public:
  ViTBlock(const ViTConfig& c, Generator* gen);
  Variable forward(const Variable& x) override;
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<MultiheadSelfAttention> attn;
  std::shared_ptr<Mlp> mlp;
};

// f(x) is the final norm's class token; the prototypes are head's rows.
class VisionTransformer : public Classifier {
 public:
  explicit VisionTransformer(const ViTConfig& config, Generator* gen = nullptr);
  Variable features(const Variable& x) override;
  Linear& classifier() override { return *head; }
  int64_t grid() const { return config.image_size / config.patch; }  // patches per side
  ViTConfig config;
  Variable cls_token, pos_embed;  // [1, 1, dim], [1, 1 + grid^2, dim]
  std::shared_ptr<Normalize> normalize;
  std::shared_ptr<PatchEmbed> patch_embed;
  std::shared_ptr<Sequential> blocks;
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Linear> head;
};

ViTConfig vit_small_config(int64_t patch, int64_t image_size);  // dim 384, depth 12, heads 6, MLP 1536
ViTConfig vit_tiny_config(int64_t patch, int64_t image_size);   // dim 192, depth 12, heads 3, MLP 768

}  // namespace tg::nn
