// Training one model: the loop shared by `train` and the table sweeps. A run lives in
// <out_dir>/<run_id>/ (DESIGN.md §7): config.json, log.csv (per epoch), metrics.json,
// model.safetensors (torchvision/timm parameter names) and checkpoint.safetensors (model, optimizer
// state, epoch and RNG state), all written atomically. Standard or adversarial training (Madry's
// PGD-AT or the paper's tempered Eq. 12). A finished run is skipped; an unfinished one
// resumes from its last epoch's checkpoint; a NaN loss ends the run as "diverged".
#pragma once

#include <cstdint>
#include <string>

#include "data/dataset.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/results.h"
#include "nn/models/registry.h"
#include "nn/module.h"
#include "tensor/safetensors.h"

namespace tg::runner {

struct TrainConfig {
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100[-coarse] | tiny-imagenet
  std::string data_dir;                   // "" = the dataset's default location
  std::string model = "resnet20";
  double tau = 1.0;                       // training temperature: loss CE(z / tau, y)
  // Adversarial training (attacks/adversarial_training.h): none; pgd (Madry et al.: CE(F(x_adv), y),
  // tau must be 1); tempered (the paper's Eq. 12: CE(F(x) / tau, y) + CE(F(x_adv), y)). x_adv is
  // PGD with adv_steps steps of adv_step in the l_inf ball of adv_eps, from a random start. log.csv's
  // train_loss and train_accuracy are then L and the accuracy on x_adv.
  std::string adversarial = "none";
  double adv_eps = 8;                     // in 1/255 units
  double adv_step = 2;                    // in 1/255 units
  int64_t adv_steps = 10;
  int64_t epochs = 5;
  int64_t batch_size = 128;
  std::string optimizer = "sgd";          // sgd | adam | adamw
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  double label_smoothing = 0.0;
  std::string schedule = "cosine";        // cosine (per step) | constant
  double warmup_epochs = 0.0;
  double grad_clip = 0.0;                 // max global l2 norm; 0 = off
  std::string augment = "auto";           // auto (crop+flip on CIFAR, none otherwise) | none | crop-flip
  std::string init;                       // checkpoint to start from (ours, torchvision's or timm's)
  std::string normalize = "auto";         // the model's input normalization: see input_contract
  std::string device = "auto";
  // fp32 | tf32 | bf16 (nn/precision.h) | auto: a run's own when it resumes or is reused, else bf16 on a GPU
  // with bf16 tensor cores and fp32 elsewhere. train() stores the resolved one in config.json (tf32 and
  // bf16 only, so fp32 runs keep the identity they had before the flag).
  std::string precision = "auto";
  bool deterministic = true;              // deterministic GPU algorithms (tensor/determinism.h); recorded
                                          // in config.json only when off, so older runs keep their identity
  int64_t seed = 0;
  int64_t train_subset = 0;               // 0 = the whole training set
  int64_t test_subset = 0;                // 0 = the whole test set
  int64_t workers = 2;
  std::string out_dir = "results/train";
  std::string run_id;                     // "" = <dataset>_<model>_tau<tau>_seed<seed>
  int64_t stop_after = 0;                 // stop after this many epochs in this invocation (0 = none);
                                          // not part of the run's identity: a later call resumes
  // Data-parallel training across the ranks of distributed::world() (`mpirun -np N train`; the
  // `train` binary sets it, sweeps do not: their ranks train different runs). Each rank computes its
  // slice of every global batch of batch_size; gradients are averaged (distributed/data_parallel.h);
  // rank 0 alone evaluates and writes the run's files. With one rank it is the plain path.
  bool data_parallel = false;
  bool sync_bn = false;                   // batch norm with the global batch's statistics across ranks
};

void add_train_flags(Flags& flags, TrainConfig& config);
Json config_json(const TrainConfig& config);
std::string run_dir(const TrainConfig& config);

struct TrainOutcome {
  std::string status;        // finished | diverged
  std::string run_dir;
  int64_t epochs_done = 0;
  double test_accuracy = 0;  // percent, at the end
  double test_loss = 0;      // CE at tau = 1
  double zero_grad_fraction = 0;  // test inputs whose float32 input gradient (CE, tau = 1) is exactly 0
  double seconds = 0;        // training time of this invocation
  double images_per_second = 0;
  bool reused = false;       // the run had finished before; nothing was trained
  bool paused = false;       // --stop-after ended this invocation; the run resumes when called again
};

// Trains (or resumes, or reuses) the run that `config` describes.
TrainOutcome train(const TrainConfig& config);

// The device of one rank of several training one model data-parallel, for --device `flag` (parsed by
// parse_device: `parsed`). The CPU stays the CPU. A GPU needs the NCCL backend (`nccl`: refused
// without it, naming -Dnccl and --device) and is one per rank: cuda, gpu and auto give the rank its
// node's GPU local_rank mod gpus (distributed::rank_gpu()), cuda:K is kept as given. `shares_gpu`:
// another rank of the node gets that GPU too (a local rank at or past `gpus`, or past 0 for cuda:K),
// which train() refuses on every rank.
struct RankDevice {
  Device device;
  bool shares_gpu = false;
};
RankDevice data_parallel_device(const std::string& flag, Device parsed, bool nccl, int64_t local_rank, int gpus);

// Loads the datasets a config names (train or test split, subset applied).
Dataset load_split(const TrainConfig& config, bool train);

struct CleanEval {
  double accuracy = 0;            // percent
  double loss = 0;                // mean CE at tau = 1
  double zero_grad_fraction = 0;  // inputs whose float32 input gradient of CE (tau = 1) is exactly 0
  int64_t count = 0;
};
// Evaluates `model` (put in eval mode) on `data` at tau = 1; the input-gradient diagnostic when asked.
// image_size: resize inputs to it first (the input contract's input_size), 0 = as they are.
CleanEval evaluate_clean(nn::Module& model, const Dataset& data, Device device, int64_t batch_size,
                         bool input_gradients, int64_t image_size = 0);

// The input contract (nn/models/registry.h) a model is built with. `normalize` (--normalize) says
// where Normalize's mean and std come from:
//   auto        the checkpoint's when there is one and its normalization is known, else the dataset's
//   checkpoint  the checkpoint's: the contract its metadata records (ours), else the one the registry
//               knows for the model's published checkpoints (timm's vit_*_patch16_224: 0.5/0.5,
//               torchvision's ResNets: ImageNet's)
//   dataset     the dataset's statistics (stats_name)
//   none        mean 0, std 1
//   NAME        a dataset's statistics by name: cifar10, cifar100, tinyimagenet, imagenet, fashion-mnist, mnist
//   MEAN/STD    numbers, one for all channels or one per channel: 0.5/0.5, 0.485,0.456,0.406/0.229,0.224,0.225
// checkpoint: the file the weights come from (--init, --pretrained, --checkpoint), nullptr = none;
// dataset: "" = none. Throws naming --normalize when the choice cannot be made.
nn::InputContract input_contract(const std::string& normalize, const std::string& model, const std::string& dataset,
                                 const SafetensorsFile* checkpoint);

// The contract a run trained with: the one its model.safetensors (`weights`) records, else (runs from
// before it was recorded) the model's input size and the statistics of the dataset in its config.json.
nn::InputContract run_contract(const Json& config, const SafetensorsFile& weights);

// A finished run's model, built with the contract it trained with and its weights loaded.
struct RunModel {
  std::shared_ptr<nn::Module> model;
  nn::InputContract contract;
};
RunModel load_run_model(const std::string& run_dir, int64_t num_classes, int64_t in_channels);

// The Normalize statistics (nn::dataset_stats) of a dataset as data/ names it ("fashion-mnist" ->
// "fashion_mnist", "cifar100-coarse" -> "cifar100").
std::string stats_name(const std::string& dataset);

// Images as a model takes them (its input contract): float32 in [0, 1], resized (bicubic, then
// clamped to [0, 1]) when the model has a fixed input size (`size` > 0: the contract's input_size).
// The attacks' eps-ball is around these pixels: an input outside [0, 1] would let their [0, 1] clamp
// move it further than eps, even at eps = 0.
Tensor model_pixels(const Tensor& images, int64_t size);

}  // namespace tg::runner
