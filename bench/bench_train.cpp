// Training throughput of a whole model: forward, tempered CE, backward and an SGD step per batch,
// on random inputs of a dataset's shape. Prints one JSON line; bench/run_train.sh runs it beside
// bench/bench_train.py (the same model, batch and threads in PyTorch) and prints the ratio.
// Also prints the process CPU time per step and the `fill` kernel launches per step (zero-fills and
// constants: tensor/kernel_counts.h), the bar for the write rule of tensor/kernels.inc.
//   bench_train [model] [batch] [channels] [size] [steps]    e.g. bench_train resnet20 128 1 28 20
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/models/factory.h"
#include "optim/optimizer.h"
#include "tensor/kernel_counts.h"
#include "tensor/random.h"

using namespace tg;

int main(int argc, char** argv) {
  std::string model_name = argc > 1 ? argv[1] : "resnet20";
  int64_t batch = argc > 2 ? std::stoll(argv[2]) : 128, channels = argc > 3 ? std::stoll(argv[3]) : 1,
          size = argc > 4 ? std::stoll(argv[4]) : 28, steps = argc > 5 ? std::stoll(argv[5]) : 20;
  manual_seed(0);
  auto model = nn::create_model(model_name, 10, channels, 0, "");
  optim::SgdOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  so.weight_decay = 5e-4;
  optim::SGD opt(model->named_parameters(), so);
  Tensor x = rand({batch, channels, size, size});
  Tensor y = randint({batch}, 0, 10);
  model->train();
  std::vector<double> ms;
  std::clock_t cpu0 = 0;
  for (int64_t s = 0; s < steps + 3; ++s) {  // 3 warm-up steps
    if (s == 3) {
      reset_kernel_counts();
      cpu0 = std::clock();
    }
    auto t0 = std::chrono::steady_clock::now();
    Variable loss = cross_entropy((*model)(Variable(x)), y, 1.0);
    opt.zero_grad();
    loss.backward();
    opt.step();
    loss.item();
    double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (s >= 3) ms.push_back(t);
  }
  const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / steps;
  const double fills = static_cast<double>(kernel_counts()["fill"]) / steps;
  std::sort(ms.begin(), ms.end());
  double median = ms[ms.size() / 2];
  std::printf("{\"framework\": \"taugrad\", \"model\": \"%s\", \"batch\": %lld, \"input\": [%lld, %lld, %lld], "
              "\"step_ms\": %.2f, \"cpu_ms_per_step\": %.2f, \"fills_per_step\": %.1f, \"images_per_s\": %.1f}\n",
              model_name.c_str(), static_cast<long long>(batch), static_cast<long long>(channels),
              static_cast<long long>(size), static_cast<long long>(size), median, cpu_ms, fills, 1000.0 * batch / median);
}
