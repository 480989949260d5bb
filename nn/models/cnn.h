// A small convolutional classifier for quick CPU runs ("cnn_small", the quickstart's model): one
// conv3x3-BN-ReLU layer per stage, a 2x2 max pool between stages, global average pooling and a
// Linear head. With the default widths {32, 64, 128, 256} on 28x28 gray images (stages at 28, 14, 7
// and 3 pixels) it has 390,890 parameters and costs 10.1M multiply-adds a forward (ResNet-20: 0.27M
// parameters, 31M), so an epoch over all 60,000 Fashion-MNIST images is about a minute on 2 CPU cores.
// Names: normalize (no state), stages.<i>.conv / stages.<i>.bn, fc (the head adapt_state_dict swaps).
// Initialization as the ResNets: convs kaiming_normal_(fan_out, relu), BN weight 1 and bias 0,
// fc torch's Linear default.
#pragma once

#include "nn/models/classifier.h"

namespace tg::nn {

struct CnnConfig {
  std::vector<int64_t> widths = {32, 64, 128, 256};  // output channels per stage
  int64_t num_classes = 10, in_channels = 1;
  DatasetStats stats = {{0.0}, {1.0}};
};

class CnnStage : public Module {
 public:
  CnnStage(int64_t in_channels, int64_t out_channels, Generator* gen);
  Variable forward(const Variable& x) override;  // relu(bn(conv(x)))
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
};

class SmallCnn : public Classifier {
 public:
  explicit SmallCnn(const CnnConfig& config, Generator* gen = nullptr);
  Variable features(const Variable& x) override;  // [N, widths.back()]
  Linear& classifier() override { return *fc; }
  CnnConfig config;
  std::shared_ptr<Normalize> normalize;
  std::shared_ptr<ModuleList> stages;
  std::shared_ptr<MaxPool2d> pool;
  std::shared_ptr<Linear> fc;
};

}  // namespace tg::nn
