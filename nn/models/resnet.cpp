#include "nn/models/resnet.h"

#include "nn/init.h"

namespace tg::nn {

namespace {

std::shared_ptr<Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride, Generator* gen) {
  return std::make_shared<Conv2d>(in, out, 3, stride, 1, false, gen);
}
std::shared_ptr<Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride, Generator* gen) {
  return std::make_shared<Conv2d>(in, out, 1, stride, 0, false, gen);
}

// Option B: downsample = Sequential(conv1x1(stride), BatchNorm2d) where the shape changes.
std::shared_ptr<Sequential> projection(int64_t in, int64_t out, int64_t stride, Generator* gen) {
  if (stride == 1 && in == out) return nullptr;
  return std::make_shared<Sequential>(std::vector<ModulePtr>{conv1x1(in, out, stride, gen), std::make_shared<BatchNorm2d>(out)});
}

}  // namespace

// ---- blocks ----

BasicBlock::BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, Shortcut shortcut, Generator* gen)
    : Module("BasicBlock"), stride(stride) {
  conv1 = register_module("conv1", conv3x3(in_planes, planes, stride, gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv3x3(planes, planes, 1, gen));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  if (shortcut == Shortcut::projection) {
    downsample = projection(in_planes, planes, stride, gen);
    if (downsample) register_module("downsample", downsample);
  } else {
    TG_CHECK((planes - in_planes) % 2 == 0 && planes >= in_planes, "BasicBlock: option-A shortcut cannot map ",
             in_planes, " to ", planes, " channels");
    pad_channels = (planes - in_planes) / 2;
  }
}

// out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
Variable BasicBlock::forward(const Variable& x) {
  Variable out = relu(bn1->forward(conv1->forward(x)));
  out = bn2->forward(conv2->forward(out));
  Variable identity = x;
  if (downsample) {
    identity = downsample->forward(x);
  } else if (stride != 1 || pad_channels != 0) {
    // Option A: x[:, :, ::stride, ::stride] (a 1x1 average pool), zero channels on both sides.
    if (stride != 1) identity = avg_pool2d(identity, Pool2dParams{1, 1, stride, stride, 0, 0});
    if (pad_channels != 0) {
      Shape zs = identity.shape();
      zs[1] = pad_channels;
      Variable zeros(Tensor::zeros(zs, identity.dtype(), identity.device()));
      identity = concat({zeros, identity, zeros}, 1);
    }
  }
  return relu(add(out, identity));
}

Bottleneck::Bottleneck(int64_t in_planes, int64_t planes, int64_t stride, Shortcut shortcut, Generator* gen)
    : Module("Bottleneck") {
  TG_CHECK(shortcut == Shortcut::projection, "Bottleneck: only projection (option B) shortcuts are supported");
  const int64_t out = planes * expansion;
  conv1 = register_module("conv1", conv1x1(in_planes, planes, 1, gen));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", conv3x3(planes, planes, stride, gen));  // stride here: v1.5
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  conv3 = register_module("conv3", conv1x1(planes, out, 1, gen));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(out));
  downsample = projection(in_planes, out, stride, gen);
  if (downsample) register_module("downsample", downsample);
}

Variable Bottleneck::forward(const Variable& x) {
  Variable out = relu(bn1->forward(conv1->forward(x)));
  out = relu(bn2->forward(conv2->forward(out)));
  out = bn3->forward(conv3->forward(out));
  return relu(add(out, downsample ? downsample->forward(x) : x));
}

// ---- the network ----

ResNet::ResNet(const ResNetConfig& cfg, Generator* gen) : Classifier("ResNet"), config(cfg) {
  TG_CHECK(!cfg.blocks.empty() && cfg.blocks.size() == cfg.widths.size(), "ResNet: ", cfg.blocks.size(),
           " stages but ", cfg.widths.size(), " widths");
  TG_CHECK(cfg.num_classes > 0 && cfg.in_channels > 0, "ResNet: need positive classes and channels, got ",
           cfg.num_classes, " and ", cfg.in_channels);
  normalize = register_module("normalize", std::make_shared<Normalize>(cfg.stats, cfg.in_channels));
  const int64_t stem_width = cfg.widths[0];
  if (cfg.stem == ResNetStem::imagenet) {
    conv1 = register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, stem_width, 7, 2, 3, false, gen));
  } else {
    conv1 = register_module("conv1", conv3x3(cfg.in_channels, stem_width, 1, gen));
  }
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(stem_width));
  if (cfg.stem == ResNetStem::imagenet) maxpool = std::make_shared<MaxPool2d>(3, 2, 1);

  const int64_t expansion = cfg.bottleneck ? Bottleneck::expansion : BasicBlock::expansion;
  int64_t in_planes = stem_width;
  for (size_t s = 0; s < cfg.blocks.size(); ++s) {
    auto stage = std::make_shared<Sequential>();
    for (int64_t b = 0; b < cfg.blocks[s]; ++b) {
      const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      if (cfg.bottleneck) {
        stage->push_back(std::make_shared<Bottleneck>(in_planes, cfg.widths[s], stride, cfg.shortcut, gen));
      } else {
        stage->push_back(std::make_shared<BasicBlock>(in_planes, cfg.widths[s], stride, cfg.shortcut, gen));
      }
      in_planes = cfg.widths[s] * expansion;
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  fc = register_module("fc", std::make_shared<Linear>(in_planes, cfg.num_classes, true, gen));

  // torchvision: convs kaiming_normal_(mode="fan_out", nonlinearity="relu"); BN weight 1, bias 0 (as built).
  apply([&](Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m))
      init::kaiming_normal_(conv->weight.data(), init::FanMode::fan_out, 0.0, gen);
  });
}

Variable ResNet::features(const Variable& x) {
  Variable y = relu(bn1->forward(conv1->forward(normalize->forward(x))));
  if (maxpool) y = maxpool->forward(y);
  for (auto& stage : layers) y = stage->forward(y);
  return flatten(adaptive_avg_pool2d(y, 1, 1), 1);
}

// ---- configurations ----

ResNetConfig resnet18_config(ResNetStem stem) {
  ResNetConfig c;
  c.blocks = {2, 2, 2, 2};
  c.stem = stem;
  return c;
}

ResNetConfig resnet34_config(ResNetStem stem) {
  ResNetConfig c;
  c.blocks = {3, 4, 6, 3};
  c.stem = stem;
  return c;
}

ResNetConfig resnet50_config(ResNetStem stem) {
  ResNetConfig c;
  c.bottleneck = true;
  c.blocks = {3, 4, 6, 3};
  c.stem = stem;
  return c;
}

ResNetConfig resnet20_config() {
  ResNetConfig c;
  c.blocks = {3, 3, 3};
  c.widths = {16, 32, 64};
  c.stem = ResNetStem::cifar;
  c.shortcut = Shortcut::zero_pad;
  c.num_classes = 10;
  return c;
}

}  // namespace tg::nn
