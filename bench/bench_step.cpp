// One workload of the device check (scripts/gpu-check) or of a CPU benchmark, timed on any device:
//   train   forward, CE, backward and an SGD step per batch (model in train mode)
//   pgd20   PGD-20 (eps 8/255, 20 steps of 2/255, random start; model in eval mode, input gradients only)
//   curve   one epoch of ResNet-style training on a fixed synthetic set, printing every step's loss, so
//           the same seed on two devices can be compared loss for loss
// Inputs are random images of the given shape (Philox, seeded), labels uniform over --classes. Prints
// one JSON line: images/s from the median step time after --warmup steps, by the wall clock
// (step_ms, images_per_s) and by the process's CPU time (cpu_ms, images_per_cpu_s: the figure that
// holds on a shared machine), the loss of the untrained model on the batch (loss0: train mode for
// train, eval mode for pgd20; the PyTorch twin must print the same), the per-step losses for curve,
// and the device memory in use at the end (CUDA: total - free, what the caching allocator holds; the
// CPU reports 0), and on CUDA the caching allocator's peak of allocated bytes, its reserved bytes and its
// cudaMalloc calls. `--init-file F` writes the initial state_dict and the batch (input.x, input.y) to
// F, from which bench/bench_step.py starts with the same weights and data. `--versions` prints the
// CUDA runtime, driver, cuBLAS and cuDNN versions this binary was built with and runs on.
//   bench_step --workload train --model resnet50_cifar --batch 256 --channels 3 --size 32 --device cuda
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "attacks/evaluate.h"
#include "attacks/pgd.h"
#include "autograd/ops.h"
#include "experiments/runner/flags.h"
#include "nn/models/factory.h"
#include "optim/optimizer.h"
#include "tensor/random.h"
#include "tensor/safetensors.h"

#ifdef TAUGRAD_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "tensor/cuda/runtime.h"
#endif

using namespace tg;

namespace {

struct Options {
  std::string workload = "train", model = "resnet20", device = "cpu", init_file;
  std::string precision = "tf32";  // what the GPU ran before the flag (TF32 was on by default)
  int64_t classes = 10, batch = 128, channels = 1, size = 28, steps = 20, warmup = 3, seed = 0, attack_steps = 20;
  double lr = 0.01;
  bool versions = false;
};

double device_bytes_in_use(Device device) {
#ifdef TAUGRAD_CUDA
  if (device.is_cuda()) {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) return static_cast<double>(total_bytes - free_bytes);
  }
#endif
  (void)device;
  return 0;
}

// The caching allocator's figures as JSON fields (", \"peak_allocated_bytes\": ..."); "" on the CPU.
std::string allocator_fields(Device device) {
#ifdef TAUGRAD_CUDA
  if (device.is_cuda()) {
    const memory::AllocatorStats s = cuda::cache_stats();
    std::ostringstream os;
    os << ", \"peak_allocated_bytes\": " << s.peak_allocated_bytes << ", \"reserved_bytes\": " << s.reserved_bytes
       << ", \"cuda_malloc_calls\": " << s.malloc_calls;
    return os.str();
  }
#endif
  (void)device;
  return "";
}

void print_versions() {
#ifdef TAUGRAD_CUDA
  int runtime = 0, driver = 0, devices = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  const cudaError_t count_status = cudaGetDeviceCount(&devices);
  std::printf("{\"cuda\": true, \"cuda_runtime\": %d, \"cuda_driver\": %d, \"cudnn\": %zu, \"cublas\": %d, "
              "\"devices\": %d, \"device_status\": \"%s\"}\n",
              runtime, driver, cudnnGetVersion(), CUBLAS_VERSION, count_status == cudaSuccess ? devices : 0,
              cudaGetErrorString(count_status));
#else
  std::printf("{\"cuda\": false}\n");
#endif
}

// CPU time of all the process's threads, in ms.
double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
}

// The middle value, or the mean of the two middle ones (as Python's statistics.median).
double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  runner::Flags flags("bench_step", "Times one training, PGD-20 or loss-curve workload on a device; one JSON line.");
  flags.add("workload", &o.workload, "train | pgd20 | curve");
  flags.add("model", &o.model, "a model name of create_model (e.g. resnet20, resnet50_cifar, vit_small_patch16_224)");
  flags.add("classes", &o.classes, "number of classes");
  flags.add("batch", &o.batch, "batch size");
  flags.add("channels", &o.channels, "input channels");
  flags.add("size", &o.size, "input height and width");
  flags.add("steps", &o.steps, "timed steps (curve: steps of the epoch)");
  flags.add("warmup", &o.warmup, "untimed steps first (not for curve)");
  flags.add("attack-steps", &o.attack_steps, "PGD steps of the pgd20 workload (20; fewer only for a dry run)");
  flags.add("device", &o.device, "cpu | cuda | cuda:N");
  flags.add("precision", &o.precision, "fp32 | tf32 | bf16 (nn/precision.h; on the CPU tf32 is fp32 and bf16 emulated)");
  flags.add("seed", &o.seed, "seed of the weights, inputs and attack starts");
  flags.add("lr", &o.lr, "SGD learning rate (train, curve)");
  flags.add("init-file", &o.init_file, "write the initial state_dict and the batch here (for bench/bench_step.py)");
  flags.add("versions", &o.versions, "print the CUDA, cuBLAS and cuDNN versions and exit");
  try {
    if (!flags.parse(argc, argv)) return 0;
    if (o.versions) {
      print_versions();
      return 0;
    }
    TG_CHECK(o.workload == "train" || o.workload == "pgd20" || o.workload == "curve", "--workload: '", o.workload,
             "' is not train, pgd20 or curve");
    TG_CHECK(o.batch > 0 && o.steps > 0 && o.warmup >= 0, "--batch and --steps must be > 0, --warmup >= 0");
    const Device device = parse_device(o.device);
    manual_seed(static_cast<uint64_t>(o.seed));
    auto model = nn::create_model(o.model, o.classes, o.channels, o.size, "");  // ViTs are built for --size
    model->to(device);
    const nn::Precision precision = nn::parse_precision(o.precision, "--precision");
    model->set_precision(precision);
    nn::apply_tf32(precision);
    const bool curve = o.workload == "curve";
    // curve: one fixed set of steps * batch images, visited once in order; else one batch reused.
    const int64_t images = curve ? o.steps * o.batch : o.batch;
    const Tensor all_x = rand({images, o.channels, o.size, o.size}).to(device);
    const Tensor all_y = randint({images}, 0, o.classes).to(device);

    optim::SgdOptions so;
    so.lr = o.lr;
    so.momentum = 0.9;
    so.weight_decay = 5e-4;
    optim::SGD opt(model->named_parameters(), so);
    auto fn = attacks::as_model_fn(*model);
    Generator gen(static_cast<uint64_t>(o.seed));
    if (o.workload == "pgd20") model->eval(); else model->train();
    if (!o.init_file.empty()) {
      StateDict init = model->state_dict();
      init.emplace_back("input.x", all_x);
      init.emplace_back("input.y", all_y);
      save_safetensors(o.init_file, init);
    }
    double loss0 = 0;
    if (o.workload == "pgd20") {
      NoGradGuard no_grad;
      loss0 = cross_entropy((*model)(Variable(all_x)), all_y, 1.0).item();
    }

    std::vector<double> ms, cpu_ms, losses;
    const int64_t total = curve ? o.steps : o.warmup + o.steps;
    for (int64_t s = 0; s < total; ++s) {
      const Tensor x = curve ? all_x.slice_rows(s * o.batch, (s + 1) * o.batch) : all_x;
      const Tensor y = curve ? all_y.slice_rows(s * o.batch, (s + 1) * o.batch) : all_y;
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = process_cpu_ms();
      if (o.workload == "pgd20") {
        attacks::PgdOptions pgd = attacks::pgd20_options();
        pgd.steps = static_cast<int>(o.attack_steps);
        attacks::AttackResult r = attacks::pgd(fn, x, y, pgd, gen);
        (void)sum(r.x_adv).item();  // waits for the device
      } else {
        Variable loss = cross_entropy((*model)(Variable(x)), y, 1.0);
        opt.zero_grad();
        loss.backward();
        opt.step();
        losses.push_back(loss.item());
      }
      const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (curve || s >= o.warmup) {
        ms.push_back(t);
        cpu_ms.push_back(process_cpu_ms() - c0);
      }
    }
    if (o.workload != "pgd20") loss0 = losses.front();
    const double step_ms = median(ms), step_cpu_ms = median(cpu_ms);
    std::ostringstream loss_list;
    for (size_t i = 0; curve && i < losses.size(); ++i) loss_list << (i ? ", " : "") << losses[i];
    std::printf("{\"framework\": \"taugrad\", \"workload\": \"%s\", \"model\": \"%s\", \"device\": \"%s\", "
                "\"precision\": \"%s\", \"batch\": %lld, \"input\": [%lld, %lld, %lld], \"step_ms\": %.3f, "
                "\"images_per_s\": %.1f, \"cpu_ms\": %.3f, \"images_per_cpu_s\": %.1f, "
                "\"loss0\": %.6f, \"device_bytes_in_use\": %.0f%s%s%s%s}\n",
                o.workload.c_str(), o.model.c_str(), o.device.c_str(), o.precision.c_str(), static_cast<long long>(o.batch),
                static_cast<long long>(o.channels), static_cast<long long>(o.size), static_cast<long long>(o.size),
                step_ms, 1000.0 * static_cast<double>(o.batch) / step_ms, step_cpu_ms,
                1000.0 * static_cast<double>(o.batch) / step_cpu_ms, loss0,
                device_bytes_in_use(device), allocator_fields(device).c_str(),
                curve ? ", \"losses\": [" : "", loss_list.str().c_str(), curve ? "]" : "");
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_step: error: %s\n", e.what());
    return 2;
  }
}
