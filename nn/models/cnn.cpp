#include "nn/models/cnn.h"

#include "nn/init.h"

namespace tg::nn {

CnnStage::CnnStage(int64_t in_channels, int64_t out_channels, Generator* gen) : Module("CnnStage") {
  conv = register_module("conv", std::make_shared<Conv2d>(in_channels, out_channels, 3, 1, 1, false, gen));
  bn = register_module("bn", std::make_shared<BatchNorm2d>(out_channels));
  init::kaiming_normal_(conv->weight.data(), init::FanMode::fan_out, 0.0, gen);
}

Variable CnnStage::forward(const Variable& x) { return relu(bn->forward(conv->forward(x))); }

SmallCnn::SmallCnn(const CnnConfig& cfg, Generator* gen) : Classifier("SmallCnn"), config(cfg) {
  TG_CHECK(!cfg.widths.empty(), "SmallCnn: need at least one stage");
  TG_CHECK(cfg.num_classes > 0 && cfg.in_channels > 0, "SmallCnn: need positive classes and channels, got ",
           cfg.num_classes, " and ", cfg.in_channels);
  normalize = register_module("normalize", std::make_shared<Normalize>(cfg.stats, cfg.in_channels));
  stages = register_module("stages", std::make_shared<ModuleList>());
  int64_t in = cfg.in_channels;
  for (int64_t width : cfg.widths) {
    stages->push_back(std::make_shared<CnnStage>(in, width, gen));
    in = width;
  }
  pool = std::make_shared<MaxPool2d>(2, 2);
  fc = register_module("fc", std::make_shared<Linear>(in, cfg.num_classes, true, gen));
}

// f(x) = mean over H, W of stage_k(... pool(stage_1(normalize(x)))): a max pool between stages.
Variable SmallCnn::features(const Variable& x) {
  Variable y = normalize->forward(x);
  for (size_t i = 0; i < stages->size(); ++i) {
    if (i > 0) y = pool->forward(y);
    y = (*stages)[i]->forward(y);
  }
  return flatten(adaptive_avg_pool2d(y, 1, 1), 1);
}

}  // namespace tg::nn
