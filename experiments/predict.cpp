// predict: runs a checkpoint (ours, torchvision's or timm's, .safetensors) on inputs from a .npy file
// (N, C, H, W float32 pixels in [0, 1]) and writes the logits to .npy. Given labels, it also writes
// the per-sample tempered loss CE(z / tau, y) and its gradient with respect to the inputs (row i is
// the gradient of sample i's loss: a saliency map, and a way to compare with other frameworks).
#include <cstdio>

#include "autograd/ops.h"
#include "data/npy.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/results.h"
#include "experiments/runner/training.h"
#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

using namespace tg;
using namespace tg::runner;

namespace {

struct Options {
  std::string run, checkpoint, model, normalize, inputs, labels, output = "logits.npy", loss_output, grad_output;
  std::string device = "auto";
  int64_t num_classes = 0, batch_size = 64;
  double tau = 1.0;
};

// The class count of a checkpoint: the rows of its classifier (fc.weight or head.weight).
int64_t classes_in(const SafetensorsFile& f) {
  for (const char* name : {"fc.weight", "head.weight"})
    if (f.contains(name)) return f.at(name).size(0);
  TG_FAIL(f.path, ": no fc.weight or head.weight to read the class count from; pass --num-classes");
}

int run(const Options& o) {
  Options opt = o;
  Json cfg;
  if (!opt.run.empty()) {  // a run folder of `train`: its model, weights and normalization
    cfg = Json::parse(read_file(opt.run + "/config.json"), opt.run + "/config.json");
    if (opt.model.empty()) opt.model = cfg.get("model")->string();
    if (opt.checkpoint.empty()) opt.checkpoint = opt.run + "/model.safetensors";
  }
  TG_CHECK(!opt.checkpoint.empty(), "predict: give --checkpoint FILE (or --run DIR of a train run)");
  TG_CHECK(!opt.model.empty(), "predict: give --model (see train --help for the names), or --run DIR");
  TG_CHECK(!opt.inputs.empty(), "predict: give --inputs FILE.npy (N, C, H, W float32 pixels in [0, 1])");
  TG_CHECK(opt.tau > 0, "predict: --tau must be > 0");
  const Device device = parse_device(opt.device);

  Tensor x = load_npy(opt.inputs);
  TG_CHECK(x.dim() == 4, opt.inputs, ": expected (N, C, H, W) pixels, got shape ", shape_str(x.shape()));
  if (x.dtype() == DType::f64) x = x.to(DType::f32);
  TG_CHECK(x.dtype() == DType::f32, opt.inputs, ": expected float32 pixels in [0, 1], got ", dtype_name(x.dtype()));
  Tensor labels;
  if (!opt.labels.empty()) {
    labels = load_npy(opt.labels);
    if (labels.dtype() != DType::i64) labels = labels.to(DType::i64);
    TG_CHECK(labels.dim() == 1 && labels.size(0) == x.size(0), opt.labels, ": expected ", x.size(0),
             " labels (one per input), got shape ", shape_str(labels.shape()));
  }

  SafetensorsFile ckpt = load_safetensors(opt.checkpoint);
  const int64_t classes = opt.num_classes > 0 ? opt.num_classes : classes_in(ckpt);
  // The normalization the weights were trained with: a run's, else the checkpoint's (or the flag's).
  const nn::InputContract contract = !opt.run.empty() && opt.normalize.empty()
                                         ? run_contract(cfg, ckpt)
                                         : input_contract(opt.normalize.empty() ? "checkpoint" : opt.normalize, opt.model,
                                                          opt.run.empty() ? "" : cfg.get("dataset")->string(), &ckpt);
  const int64_t size = contract.input_size;
  TG_CHECK(size == 0 || (x.size(2) == size && x.size(3) == size), opt.inputs, ": ", opt.model, " takes ", size, "x",
           size, " inputs, got ", x.size(2), "x", x.size(3), " (resize them first)");
  auto model = nn::create_model(opt.model, {classes, x.size(1), contract});
  std::vector<std::string> changed;
  model->load_state_dict(nn::adapt_state_dict(*model, ckpt.tensors, &changed), true);
  for (const auto& n : changed) std::fprintf(stderr, "predict: %s replaced or resized to fit the model\n", n.c_str());
  model->to(device);
  model->eval();

  std::vector<Tensor> logits, losses, grads;
  for (int64_t b = 0; b < x.size(0); b += opt.batch_size) {
    int64_t e = std::min(b + opt.batch_size, x.size(0));
    Variable xb(x.slice_rows(b, e).to(device), labels.defined() && !opt.grad_output.empty());
    Variable z = (*model)(xb);
    logits.push_back(z.data().cpu());
    if (!labels.defined()) continue;
    Variable l = cross_entropy_per_sample(z, labels.slice_rows(b, e).to(device), opt.tau);
    losses.push_back(l.data().cpu());
    if (!opt.grad_output.empty())
      grads.push_back(grad({l}, {xb}, {Tensor::ones(l.shape(), l.dtype(), device)})[0].cpu());
  }
  save_npy(opt.output, concat(logits, 0));
  std::printf("predict: wrote logits %s to %s\n", shape_str(concat(logits, 0).shape()).c_str(), opt.output.c_str());
  if (labels.defined()) {
    Tensor all = concat(losses, 0);
    std::printf("predict: mean loss CE(z / %g, y) = %.6f\n", opt.tau, mean(all).item());
    if (!opt.loss_output.empty()) save_npy(opt.loss_output, all);
    if (!opt.grad_output.empty()) {
      save_npy(opt.grad_output, concat(grads, 0));
      std::printf("predict: wrote input gradients to %s\n", opt.grad_output.c_str());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  Flags f("predict",
          "Runs a checkpoint on inputs from a .npy file (N, C, H, W float32 pixels in [0, 1]) and writes the\n"
          "logits; with --labels, also the per-sample loss CE(z / tau, y) and its input gradient.\n"
          "Example: predict --run results/train/fashion-mnist_resnet20_tau1_seed0 --inputs x.npy --labels y.npy "
          "--grad-output g.npy");
  f.add("run", &o.run, "a train run folder: takes its model, model.safetensors and the normalization it trained with");
  f.add("checkpoint", &o.checkpoint, "model weights (.safetensors: ours, torchvision's or timm's)");
  f.add("model", &o.model, "model name (see train --help)");
  f.add("num-classes", &o.num_classes, "classes (0 = the checkpoint's classifier rows)");
  f.add("normalize", &o.normalize, "the model's input mean/std (\"\" = the run's, else the checkpoint's: what ours record; timm's "
                                   "vit_*_patch16_224: 0.5/0.5; torchvision's ResNets: ImageNet's) | a dataset's name (cifar10, "
                                   "imagenet, ...) | none | MEAN/STD (0.5/0.5, or per channel: 0.485,0.456,0.406/0.229,0.224,0.225)");
  f.add("inputs", &o.inputs, ".npy of inputs, (N, C, H, W) float32 in [0, 1]");
  f.add("labels", &o.labels, ".npy of integer labels (N,): enables the loss and gradient outputs");
  f.add("tau", &o.tau, "temperature of the loss CE(z / tau, y)");
  f.add("output", &o.output, "where to write the logits (.npy)");
  f.add("loss-output", &o.loss_output, "where to write the per-sample losses (.npy)");
  f.add("grad-output", &o.grad_output, "where to write the input gradients (.npy)");
  f.add("device", &o.device, "auto | cpu | cuda | cuda:N");
  f.add("batch-size", &o.batch_size, "inputs per forward pass");
  try {
    if (!f.parse(argc, argv)) return 0;
    return run(o);
  } catch (const Error& e) {
    std::fprintf(stderr, "predict: error: %s\n", e.what());
    return 2;
  }
}
