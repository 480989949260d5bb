// Read this first: a two-layer MLP learns the "two moons", two interleaved half circles that no
// straight line separates. It shows the autograd API and nothing else:
// - parameters are Variables that require gradients (the leaves of the graph);
// - the forward pass is built from differentiable ops (linear, relu, cross_entropy), each of which
//   records the node that will compute its backward;
// - loss.backward() runs those nodes in reverse and leaves d loss / d parameter in each .grad();
// - an optimizer (Adam) reads the gradients and updates the parameters in place.
// Prints the loss as it falls and the final training accuracy; exits 1 if that is below 95%.
#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

#include "autograd/ops.h"
#include "optim/optimizer.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;

int main() {
  manual_seed(0);
  // n points along each moon, jittered by Gaussian noise (std 0.1): label 0 above, label 1 below.
  const int64_t n = 200;
  std::vector<float> points;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 2 * n; ++i) {
    const bool lower = i >= n;
    const double t = std::numbers::pi * static_cast<double>(i % n) / (n - 1);
    points.push_back(static_cast<float>(lower ? 1 - std::cos(t) : std::cos(t)));
    points.push_back(static_cast<float>(lower ? 0.5 - std::sin(t) : std::sin(t)));
    labels.push_back(lower ? 1 : 0);
  }
  const Tensor x = add(Tensor::from_vector(points, {2 * n, 2}), mul(randn({2 * n, 2}), 0.1));
  const Tensor y = Tensor::from_vector(labels, {2 * n});

  // 2 inputs -> 32 hidden units -> 2 logits. `true`: the engine computes a gradient for it.
  const int64_t hidden = 32;
  Variable w1(mul(randn({hidden, 2}), 0.5), true), b1(Tensor::zeros({hidden}), true);
  Variable w2(mul(randn({2, hidden}), 0.5), true), b2(Tensor::zeros({2}), true);
  optim::Adam optimizer({w1, b1, w2, b2}, {.lr = 0.05});
  auto logits = [&](const Tensor& input) { return linear(relu(linear(Variable(input), w1, b1)), w2, b2); };

  for (int step = 0; step <= 300; ++step) {
    Variable loss = cross_entropy(logits(x), y);  // the mean of -log softmax(z)_y (tau = 1)
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    if (step % 50 == 0) std::printf("step %3d  loss %.4f\n", step, loss.item());
  }

  NoGradGuard no_grad;  // evaluation: no graph is recorded
  const Tensor predicted = argmax(logits(x).data(), 1);
  const double accuracy = 100.0 * sum(eq(predicted, y).to(DType::i64)).item() / static_cast<double>(2 * n);
  std::printf("training accuracy %.1f%%\n", accuracy);
  return accuracy >= 95 ? 0 : 1;
}
