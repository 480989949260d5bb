// nn/models/cnn.h: the quickstart's small CNN, built by name, as a Classifier (logits = fc(features)),
// with the parameter count and names its header states.
#include <doctest/doctest.h>

#include "nn/models/cnn.h"
#include "nn/models/factory.h"

using namespace tg;
using namespace tg::nn;

TEST_CASE("cnn_small: built by name, logits are the head applied to the features") {
  auto m = create_model("cnn_small", 10, 1, 0, "fashion_mnist");
  auto* cnn = dynamic_cast<SmallCnn*>(m.get());
  REQUIRE(cnn != nullptr);
  CHECK(m->num_parameters() == 390890);
  std::vector<std::string> names;
  for (const auto& [name, t] : m->state_dict()) names.push_back(name);
  CHECK(names.front() == "stages.0.conv.weight");
  CHECK(names.back() == "fc.bias");
  Generator g(3);
  Variable x(rand({3, 1, 28, 28}, DType::f32, Device::cpu(), &g));
  m->eval();
  Variable f = cnn->features(x), z = m->forward(x);
  CHECK(f.shape() == Shape{3, 256});
  CHECK(z.shape() == Shape{3, 10});
  CHECK(z.data().to_vector<float>() == cnn->classifier().forward(f).data().to_vector<float>());
}

TEST_CASE("cnn_small: any size and channel count; four stages need at least 8x8 inputs") {
  auto m = create_model("cnn_small", 7, 3);
  Generator g(5);
  CHECK(m->forward(Variable(rand({2, 3, 32, 32}, DType::f32, Device::cpu(), &g))).shape() == Shape{2, 7});
  CHECK(m->forward(Variable(rand({2, 3, 8, 8}, DType::f32, Device::cpu(), &g))).shape() == Shape{2, 7});
}
