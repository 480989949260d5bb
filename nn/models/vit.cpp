#include "nn/models/vit.h"

#include "nn/init.h"

namespace tg::nn {

Mlp::Mlp(int64_t dim, int64_t hidden, Generator* gen) : Module("Mlp") {
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden, true, gen));
  fc1->bf16_output = true;  // under bf16: fc1 -> GELU -> fc2 in bfloat16, fc2's output float32
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim, true, gen));
}

ViTBlock::ViTBlock(const ViTConfig& c, Generator* gen) : Module("Block") {
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(c.dim, c.ln_eps));
  attn = register_module("attn", std::make_shared<MultiheadSelfAttention>(c.dim, c.heads, true, gen));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(c.dim, c.ln_eps));
  norm1->bf16_output = norm2->bf16_output = true;  // under bf16: the operands of qkv and fc1
  mlp = register_module("mlp", std::make_shared<Mlp>(c.dim, c.mlp_hidden, gen));
}

Variable ViTBlock::forward(const Variable& x) {
  Variable y = add(x, attn->forward(norm1->forward(x)));
  return add(y, mlp->forward(norm2->forward(y)));
}

VisionTransformer::VisionTransformer(const ViTConfig& c, Generator* gen) : Classifier("VisionTransformer"), config(c) {
  TG_CHECK(c.patch > 0 && c.image_size % c.patch == 0, "VisionTransformer: image size ", c.image_size,
           " is not a multiple of the patch size ", c.patch);
  TG_CHECK(c.num_classes > 0 && c.in_channels > 0 && c.depth > 0, "VisionTransformer: bad config (classes ",
           c.num_classes, ", channels ", c.in_channels, ", depth ", c.depth, ")");
  const int64_t tokens = 1 + grid() * grid();
  cls_token = Variable(Tensor::zeros({1, 1, c.dim}));
  pos_embed = Variable(Tensor::zeros({1, tokens, c.dim}));
  register_parameter("cls_token", &cls_token);
  register_parameter("pos_embed", &pos_embed);
  normalize = register_module("normalize", std::make_shared<Normalize>(c.stats, c.in_channels));
  patch_embed = register_module("patch_embed", std::make_shared<PatchEmbed>(c.in_channels, c.dim, c.patch, gen));
  blocks = register_module("blocks", std::make_shared<Sequential>());
  for (int64_t i = 0; i < c.depth; ++i) blocks->push_back(std::make_shared<ViTBlock>(c, gen));
  norm = register_module("norm", std::make_shared<LayerNorm>(c.dim, c.ln_eps));
  head = register_module("head", std::make_shared<Linear>(c.dim, c.num_classes, true, gen));

  // timm init_weights (mode ""): pos_embed trunc_normal(.02), cls_token normal(1e-6), then every
  // Linear: weight trunc_normal(.02), bias 0.
  init::trunc_normal_(pos_embed.data(), 0.02, 0.0, -2.0, 2.0, gen);
  init::normal_(cls_token.data(), 0.0, 1e-6, gen);
  apply([&](Module& m) {
    if (auto* l = dynamic_cast<Linear*>(&m)) {
      init::trunc_normal_(l->weight.data(), 0.02, 0.0, -2.0, 2.0, gen);
      if (l->bias.defined()) init::constant_(l->bias.data(), 0.0);
    }
  });
}

// tokens = [cls; patches] + pos_embed -> blocks -> norm -> token 0 (head multiplies it).
Variable VisionTransformer::features(const Variable& x) {
  TG_CHECK(x.dim() == 4 && x.size(2) == config.image_size && x.size(3) == config.image_size,
           "VisionTransformer: built for ", config.image_size, "x", config.image_size, " images, got ",
           shape_str(x.shape()), " (resize the inputs, or build the model with this image size)");
  Variable t = patch_embed->forward(normalize->forward(x));  // [B, N, D]
  const int64_t B = t.size(0), D = config.dim;
  Variable cls = add(Variable(Tensor::zeros({B, 1, D}, t.dtype(), t.device())), cls_token);
  t = add(concat({cls, t}, 1), pos_embed);
  t = norm->forward(blocks->forward(t));
  return reshape(slice(t, 1, 0, 1), {B, D});
}

ViTConfig vit_small_config(int64_t patch, int64_t image_size) {
  ViTConfig c;
  c.patch = patch;
  c.image_size = image_size;
  c.dim = 384;
  c.depth = 12;
  c.heads = 6;
  c.mlp_hidden = 1536;
  return c;
}

ViTConfig vit_tiny_config(int64_t patch, int64_t image_size) {
  ViTConfig c = vit_small_config(patch, image_size);
  c.dim = 192;
  c.heads = 3;
  c.mlp_hidden = 768;
  return c;
}

}  // namespace tg::nn
