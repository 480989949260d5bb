// ResNets with torchvision's module names (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc),
// so torchvision checkpoints load as they are:
// - ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck, stride on the 3x3 conv: torchvision's
//   "v1.5"), with the imagenet stem (7x7 stride-2 conv + 3x3 stride-2 max pool) or the cifar stem
//   (3x3 stride-1 conv, no max pool).
// - ResNet-20 of He et al. 2016 (Sec. 4.2): 3 stages x 3 BasicBlocks of 16/32/64 channels, cifar stem,
//   option-A shortcuts (identity, subsampled by 2 and zero-padded in channels: no parameters),
//   269,722 parameters with 10 classes.
// Every model starts with a Normalize layer (pixels in [0, 1]); its mean/std are not in state_dict.
// Initialization as torchvision: convs kaiming_normal_(fan_out, relu), BN weight 1 and bias 0,
// fc torch's Linear default.
#pragma once

#include "nn/layers.h"
#include "nn/models/classifier.h"

namespace tg::nn {

enum class ResNetStem { cifar, imagenet };
enum class Shortcut { projection, zero_pad };  // option B (1x1 conv + BN) or option A (He et al.)

class BasicBlock : public Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride, Shortcut shortcut, Generator* gen);
  Variable forward(const Variable& x) override;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> downsample;  // null when the shortcut is the identity or zero-padded
  int64_t stride, pad_channels = 0;        // option A: subsample by stride, pad this many channels per side
};

class Bottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t in_planes, int64_t planes, int64_t stride, Shortcut shortcut, Generator* gen);
  Variable forward(const Variable& x) override;
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> downsample;
};

struct ResNetConfig {
  bool bottleneck = false;
  std::vector<int64_t> blocks = {2, 2, 2, 2};       // per stage
  std::vector<int64_t> widths = {64, 128, 256, 512};  // planes per stage (x expansion out)
  ResNetStem stem = ResNetStem::imagenet;
  Shortcut shortcut = Shortcut::projection;
  int64_t num_classes = 1000, in_channels = 3;
  DatasetStats stats = {{0.0}, {1.0}};
};

// f(x) is the globally average-pooled output of the last stage; the prototypes are fc's rows.
class ResNet : public Classifier {
 public:
  explicit ResNet(const ResNetConfig& config, Generator* gen = nullptr);
  Variable features(const Variable& x) override;
  Linear& classifier() override { return *fc; }
  ResNetConfig config;
  std::shared_ptr<Normalize> normalize;
  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<MaxPool2d> maxpool;  // imagenet stem only
  std::vector<std::shared_ptr<Sequential>> layers;  // layer1, layer2, ...
  std::shared_ptr<Linear> fc;
};

// torchvision's and He et al.'s configurations.
ResNetConfig resnet18_config(ResNetStem stem);
ResNetConfig resnet34_config(ResNetStem stem);
ResNetConfig resnet50_config(ResNetStem stem);
ResNetConfig resnet20_config();

}  // namespace tg::nn
