#include "experiments/runner/training.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>

#include "attacks/adversarial_training.h"
#include "attacks/common.h"
#include "autograd/ops.h"
#include "data/loader.h"
#include "data/prefetcher.h"
#include "data/transforms.h"
#include "distributed/data_parallel.h"
#include "distributed/sync_batch_norm.h"
#include "experiments/runner/progress.h"
#include "experiments/runner/schema.h"
#include "nn/models/factory.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"
#include "tensor/determinism.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/safetensors.h"

namespace tg::runner {

void add_train_flags(Flags& f, TrainConfig& c) {
  f.add("dataset", &c.dataset, "fashion-mnist | mnist | cifar10 | cifar100 | cifar100-coarse | tiny-imagenet");
  f.add("data-dir", &c.data_dir, "folder of the dataset's files (\"\" = its default location)");
  f.add("model", &c.model, nn::model_list());
  f.add("tau", &c.tau, "training temperature: the loss is CE(logits / tau, y)");
  f.add("adversarial", &c.adversarial, "none | pgd (Madry PGD-AT: CE(F(x_adv), y); needs tau 1) | tempered "
                                       "(the paper's Eq. 12: CE(F(x) / tau, y) + CE(F(x_adv), y))");
  f.add("adv-eps", &c.adv_eps, "adversarial training: l_inf budget, in 1/255");
  f.add("adv-step", &c.adv_step, "adversarial training: PGD step size, in 1/255");
  f.add("adv-steps", &c.adv_steps, "adversarial training: PGD steps");
  f.add("epochs", &c.epochs, "training epochs");
  f.add("batch-size", &c.batch_size, "batch size");
  f.add("optimizer", &c.optimizer, "sgd | adam | adamw");
  f.add("lr", &c.lr, "base learning rate");
  f.add("momentum", &c.momentum, "SGD momentum");
  f.add("nesterov", &c.nesterov, "Nesterov momentum (SGD)");
  f.add("weight-decay", &c.weight_decay, "weight decay (L2 for sgd/adam, decoupled for adamw)");
  f.add("label-smoothing", &c.label_smoothing, "label smoothing of the training loss");
  f.add("schedule", &c.schedule, "cosine (annealed per step to 0) | constant");
  f.add("warmup-epochs", &c.warmup_epochs, "linear warmup before the cosine schedule, in epochs");
  f.add("grad-clip", &c.grad_clip, "clip gradients to this global l2 norm (0 = off)");
  f.add("augment", &c.augment, "auto (random crop 4 + flip on CIFAR, none otherwise) | none | crop-flip");
  f.add("init", &c.init, "start from this checkpoint (ours, torchvision's or timm's .safetensors)");
  f.add("normalize", &c.normalize,
        "the model's input mean/std: auto (the --init checkpoint's when known, else the dataset's) | checkpoint "
        "(what ours record; timm's vit_*_patch16_224: 0.5/0.5; torchvision's ResNets: ImageNet's) | dataset | none | "
        "a dataset's name (cifar10, imagenet, ...) | MEAN/STD (0.5/0.5, or per channel: 0.485,0.456,0.406/0.229,0.224,0.225). "
        "Recorded in model.safetensors, which evaluate and predict then use");
  f.add("device", &c.device, "auto (the GPU when there is one) | cpu | cuda | cuda:N");
  f.add("precision", &c.precision,
        "auto | fp32 | tf32 | bf16: the GEMMs and convolutions of training (bf16: bfloat16 operands and "
        "activations, float32 accumulation, weights, optimizer state, logits and loss). auto: a resumed run's own, else bf16 on GPUs that "
        "have it (compute capability >= 8.0), fp32 on the CPU. Evaluation runs in fp32 (--eval-precision)");
  add_deterministic_flag(f, &c.deterministic);
  f.add("seed", &c.seed, "seed of initialization, shuffling and augmentation");
  f.add("train-subset", &c.train_subset, "train on the first N training images (0 = all)");
  f.add("test-subset", &c.test_subset, "evaluate on the first N test images (0 = all)");
  f.add("workers", &c.workers, "data loader threads");
  f.add("out-dir", &c.out_dir, "results folder; the run goes to <out-dir>/<run-id>/");
  f.add("run-id", &c.run_id, "the run's folder name (\"\" = <dataset>_<model>_tau<tau>_seed<seed>)");
  f.add("stop-after", &c.stop_after, "stop after this many epochs now; running again resumes (0 = train to the end)");
  f.add("sync-bn", &c.sync_bn, "under mpirun -np N: batch norm normalizes with the global batch's statistics "
                               "(averaged across ranks) instead of each rank's slice's");
}

Json config_json(const TrainConfig& c) {
  Json j = Json::object();
  j.set("dataset", c.dataset).set("data_dir", c.data_dir).set("model", c.model).set("tau", c.tau);
  j.set("epochs", c.epochs).set("batch_size", c.batch_size).set("optimizer", c.optimizer).set("lr", c.lr);
  j.set("momentum", c.momentum).set("nesterov", c.nesterov).set("weight_decay", c.weight_decay);
  j.set("label_smoothing", c.label_smoothing).set("schedule", c.schedule).set("warmup_epochs", c.warmup_epochs);
  j.set("grad_clip", c.grad_clip).set("augment", c.augment).set("init", c.init).set("seed", c.seed);
  j.set("train_subset", c.train_subset).set("test_subset", c.test_subset);
  if (c.precision != "fp32" && c.precision != "auto") j.set("precision", c.precision);  // see TrainConfig
  // Only when it can matter, so runs from scratch keep the identity they had before the flag (a fine-tune
  // from before it normalized with the dataset's statistics, not the checkpoint's: another run now).
  if (!c.init.empty() || c.normalize != "auto") j.set("normalize", c.normalize);
  if (!c.deterministic) j.set("deterministic", false);  // likewise: absent means on, the default
  if (c.adversarial != "none")  // only then, so standard runs keep the identity they always had
    j.set("adversarial", c.adversarial).set("adv_eps", c.adv_eps).set("adv_step", c.adv_step).set("adv_steps", c.adv_steps);
  if (c.sync_bn) j.set("sync_bn", true);  // likewise
  return j;
}

std::string run_dir(const TrainConfig& c) {
  std::string id = c.run_id;
  if (id.empty()) {
    std::ostringstream os;
    os << c.dataset << "_" << c.model << "_tau" << c.tau;
    if (c.adversarial != "none") os << "_" << c.adversarial << "-at";
    os << "_seed" << c.seed;
    id = os.str();
  }
  return c.out_dir + "/" + id;
}

std::string stats_name(const std::string& dataset) {
  if (dataset.rfind("cifar100", 0) == 0) return "cifar100";
  if (dataset == "fashion-mnist") return "fashion_mnist";
  if (dataset == "tiny-imagenet") return "tinyimagenet";
  return dataset;
}

nn::InputContract input_contract(const std::string& normalize, const std::string& model, const std::string& dataset,
                                 const SafetensorsFile* checkpoint) {
  const nn::ModelSpec& spec = nn::model_spec(model);
  nn::InputContract c{spec.input_size, {{0.0}, {1.0}}};
  std::optional<nn::DatasetStats> known;  // the checkpoint's normalization, when it is known
  if (checkpoint) {
    if (auto recorded = nn::contract_from_metadata(checkpoint->metadata, checkpoint->path)) known = recorded->stats;
    else known = spec.checkpoint_stats;
  }
  const std::string unknown = checkpoint ? checkpoint->path + " records no normalization and " + model +
                                               " has no published checkpoint whose normalization is known"
                                         : "no checkpoint is given (--init, --pretrained, --checkpoint)";
  if (normalize == "auto" || normalize == "checkpoint") {
    TG_CHECK(known || (normalize == "auto" && !dataset.empty()), "--normalize ", normalize, ": ", unknown,
             "; give --normalize dataset, a dataset's name or MEAN/STD");
    c.stats = known ? *known : nn::dataset_stats(stats_name(dataset));
  } else if (normalize == "dataset") {
    TG_CHECK(!dataset.empty(), "--normalize dataset: no dataset is given; give a dataset's name or MEAN/STD");
    c.stats = nn::dataset_stats(stats_name(dataset));
  } else if (const size_t slash = normalize.find('/'); slash != std::string::npos) {
    c.stats.mean = nn::parse_numbers(normalize.substr(0, slash), "--normalize MEAN/STD");
    c.stats.std = nn::parse_numbers(normalize.substr(slash + 1), "--normalize MEAN/STD");
    TG_CHECK(c.stats.mean.size() == c.stats.std.size(), "--normalize ", normalize, ": ", c.stats.mean.size(),
             " means but ", c.stats.std.size(), " stds");
  } else if (normalize != "none") {
    try {
      c.stats = nn::dataset_stats(stats_name(normalize));
    } catch (const Error&) {
      TG_FAIL("--normalize: '", normalize, "' is not auto, checkpoint, dataset, none, a dataset's name (cifar10, "
              "cifar100, tiny-imagenet, imagenet, fashion-mnist, mnist) or MEAN/STD (e.g. 0.5/0.5)");
    }
  }
  return c;
}

nn::InputContract run_contract(const Json& config, const SafetensorsFile& weights) {
  if (auto recorded = nn::contract_from_metadata(weights.metadata, weights.path)) return *recorded;
  return input_contract("dataset", config.get("model")->string(), config.get("dataset")->string(), nullptr);
}

RunModel load_run_model(const std::string& run_dir, int64_t num_classes, int64_t in_channels) {
  const std::string config_path = run_dir + "/" + schema::kConfigFile;
  const Json config = Json::parse(read_file(config_path), config_path);
  const SafetensorsFile weights = load_safetensors(run_dir + "/model.safetensors");
  RunModel r;
  r.contract = run_contract(config, weights);
  r.model = nn::create_model(config.get("model")->string(), {num_classes, in_channels, r.contract});
  r.model->load_state_dict(weights.tensors, true);
  return r;
}

Tensor model_pixels(const Tensor& images, int64_t size) {
  Tensor x = images.dtype() == DType::f32 ? images : to_float(images);
  if (size <= 0 || (x.size(2) == size && x.size(3) == size)) return x;
  // Bicubic rings past [0, 1] at edges (-0.11 at 32 -> 224); clamped, as an 8-bit resize would be.
  return clamp(resize(x, size, size, Interpolation::bicubic), 0.0, 1.0);
}

Dataset load_split(const TrainConfig& c, bool train) {
  Dataset d = load_dataset(c.dataset, c.data_dir, train);
  int64_t n = train ? c.train_subset : c.test_subset;
  TG_CHECK(n >= 0, (train ? "--train-subset" : "--test-subset"), " must be >= 0, got ", n);
  if (n > 0 && n < d.size()) d = subset(d, n);
  return d;
}

namespace {

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainConfig& c, nn::Module& model) {
  auto params = model.named_parameters();
  if (c.optimizer == "sgd") {
    optim::SgdOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.nesterov = c.nesterov;
    o.weight_decay = c.weight_decay;
    return std::make_unique<optim::SGD>(params, o);
  }
  optim::AdamOptions o;
  o.lr = c.lr;
  o.weight_decay = c.weight_decay;
  if (c.optimizer == "adam") return std::make_unique<optim::Adam>(params, o);
  if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(params, o);
  TG_FAIL("--optimizer: unknown optimizer '", c.optimizer, "' (sgd, adam or adamw)");
}

void validate(const TrainConfig& c) {
  TG_CHECK(c.tau > 0, "--tau must be > 0, got ", c.tau);
  TG_CHECK(c.epochs > 0, "--epochs must be > 0, got ", c.epochs);
  TG_CHECK(c.batch_size > 0, "--batch-size must be > 0, got ", c.batch_size);
  TG_CHECK(c.lr > 0, "--lr must be > 0, got ", c.lr);
  TG_CHECK(c.schedule == "cosine" || c.schedule == "constant", "--schedule: '", c.schedule,
           "' is not cosine or constant");
  TG_CHECK(c.augment == "auto" || c.augment == "none" || c.augment == "crop-flip", "--augment: '", c.augment,
           "' is not auto, none or crop-flip");
  TG_CHECK(c.workers >= 0, "--workers must be >= 0");
  if (c.precision != "auto") nn::parse_precision(c.precision, "--precision");
  TG_CHECK(c.adversarial == "none" || c.adversarial == "pgd" || c.adversarial == "tempered", "--adversarial: '",
           c.adversarial, "' is not none, pgd or tempered");
  if (c.adversarial == "none") return;
  TG_CHECK(c.adversarial != "pgd" || c.tau == 1, "--adversarial pgd trains on CE(F(x_adv), y) alone, so --tau ",
           c.tau, " would be ignored; use --adversarial tempered to temper the clean term");
  TG_CHECK(c.adv_eps > 0 && c.adv_step > 0 && c.adv_steps > 0, "--adv-eps, --adv-step and --adv-steps must be > 0");
  TG_CHECK(c.label_smoothing == 0, "--label-smoothing is not supported with --adversarial");
}

attacks::AdvTrainOptions adversarial_options(const TrainConfig& c) {
  attacks::AdvTrainOptions o;
  o.eps = c.adv_eps / 255;
  o.step_size = c.adv_step / 255;
  o.steps = static_cast<int>(c.adv_steps);
  o.tempered = c.adversarial == "tempered";
  o.tau = c.tau;
  return o;
}

Augment make_augment(const TrainConfig& c, int64_t image_size) {
  bool crop_flip = c.augment == "crop-flip" || (c.augment == "auto" && c.dataset.rfind("cifar", 0) == 0);
  if (!crop_flip && image_size == 0) return {};
  return [crop_flip, image_size](const Tensor& images, Generator& gen) {
    Tensor x = images;
    if (crop_flip) x = random_horizontal_flip(random_crop(x, x.size(2), x.size(3), 4, gen), gen);
    return image_size > 0 ? model_pixels(x, image_size) : x;
  };
}

// The checkpoint holds the model under "model/", the optimizer state under "optimizer/", and the
// epoch, step, RNG state and config in the metadata.
void save_checkpoint(const std::string& dir, nn::Module& model, optim::Optimizer& opt, int64_t epoch,
                     int64_t step, const Json& config, const nn::InputContract& contract) {
  StateDict tensors;
  for (auto& [name, t] : model.state_dict()) tensors.emplace_back("model/" + name, t);
  for (auto& [name, t] : opt.state_dict()) tensors.emplace_back("optimizer/" + name, t);
  Generator& g = default_generator();
  save_safetensors(dir + "/checkpoint.safetensors", tensors,
                   {{"epoch", std::to_string(epoch)},
                    {"step", std::to_string(step)},
                    {"rng_seed", std::to_string(g.seed())},
                    {"rng_offset", std::to_string(g.offset())},
                    {"config", config.dump(0)}});
  save_safetensors(dir + "/model.safetensors", model.state_dict(), nn::contract_metadata(contract));
}

// Restores a checkpoint; returns the epochs it had finished.
int64_t load_checkpoint(const std::string& dir, nn::Module& model, optim::Optimizer& opt, int64_t& step,
                        const Json& config) {
  SafetensorsFile f = load_safetensors(dir + "/checkpoint.safetensors");
  auto meta = [&](const char* key) -> const std::string& {
    auto it = f.metadata.find(key);
    TG_CHECK(it != f.metadata.end(), f.path, ": checkpoint metadata lacks '", key, "'; delete ", dir,
             " to start the run again");
    return it->second;
  };
  TG_CHECK(meta("config") == config.dump(0), dir, " holds a run with another configuration (", meta("config"),
           "); give this one another --run-id or --out-dir, or delete that folder");
  StateDict model_state, opt_state;
  for (auto& [name, t] : f.tensors) {
    if (name.rfind("model/", 0) == 0) model_state.emplace_back(name.substr(6), t);
    if (name.rfind("optimizer/", 0) == 0) opt_state.emplace_back(name.substr(10), t);
  }
  Device device = model.parameters().empty() ? Device::cpu() : model.parameters()[0].device();
  for (auto& [name, t] : model_state) t = t.to(device);
  for (auto& [name, t] : opt_state) t = t.to(device);
  model.load_state_dict(model_state, true);
  opt.load_state_dict(opt_state);
  default_generator().set_state(std::stoull(meta("rng_seed")), std::stoull(meta("rng_offset")));
  step = std::stoll(meta("step"));
  return std::stoll(meta("epoch"));
}

// Keeps the log rows of epochs <= `epochs` (a resumed run rewrites what came after its checkpoint).
std::string log_rows_upto(const std::string& path, int64_t epochs) {
  if (!file_exists(path)) return "";
  std::istringstream in(read_file(path));
  std::string line, out;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (!line.empty() && std::stoll(line.substr(0, line.find(','))) <= epochs) out += line + "\n";
  }
  return out;
}

std::string log_header() {
  std::string header;
  for (const char* column : schema::kLogColumns) {
    if (!header.empty()) header += ',';
    header += column;
  }
  return header += '\n';
}

// metrics.json, the mark of a finished run: what outcome_from_metrics gives back when it is reused.
Json metrics_json(const TrainOutcome& o, Device device, int64_t parameters, const Json& config) {
  Json m = Json::object();
  m.set(schema::kStatus, o.status).set("epochs_done", o.epochs_done).set(schema::kTestAccuracy, o.test_accuracy);
  m.set("test_loss", o.test_loss).set("zero_input_grad_fraction", o.zero_grad_fraction);
  m.set("train_seconds", o.seconds).set("images_per_second", o.images_per_second);
  return m.set("device", device.str()).set("parameters", parameters).set("config", config);
}

TrainOutcome outcome_from_metrics(const Json& m, const std::string& dir) {
  TrainOutcome o;
  o.status = m.get(schema::kStatus)->string();
  o.run_dir = dir;
  o.epochs_done = static_cast<int64_t>(m.get("epochs_done")->number());
  o.test_accuracy = m.get(schema::kTestAccuracy)->number();
  o.test_loss = m.get("test_loss")->number();
  o.zero_grad_fraction = m.get("zero_input_grad_fraction")->number();
  o.reused = true;
  return o;
}

// --precision resolved for the run in `dir`: the run's own (its config.json) when it exists, which an
// explicit other value may not change; else auto's choice for the device.
std::string resolve_precision(const TrainConfig& c, const std::string& dir) {
  std::optional<std::string> saved;
  if (const std::string path = dir + "/" + schema::kConfigFile; file_exists(path)) {
    const Json j = Json::parse(read_file(path), path);
    const Json* p = j.get("precision");
    saved = p ? p->string() : "fp32";
  }
  if (c.precision == "auto")
    return saved ? *saved : nn::precision_name(nn::default_precision(parse_device(c.device)));
  TG_CHECK(!saved || *saved == c.precision, "--precision ", c.precision, ": ", dir, " holds a run trained in ", *saved,
           "; resume it with --precision ", *saved, " (or auto), or give this one another --run-id or --out-dir");
  return c.precision;
}

// The checks data-parallel training over `ranks` processes adds to validate's.
void validate_data_parallel(const TrainConfig& c, int64_t ranks) {
  TG_CHECK(c.batch_size % ranks == 0, "--batch-size ", c.batch_size, " does not split evenly over the ", ranks,
           " ranks of mpirun -np ", ranks, "; give a multiple of ", ranks);
  TG_CHECK(c.adversarial == "none", "--adversarial ", c.adversarial, " is not supported across ", ranks, " ranks yet "
           "(each rank would draw its own PGD start); run it in one process");
}

// This rank's device under data parallelism (data_parallel_device), refused on every rank together
// when two ranks of a node would share a GPU (NCCL needs one GPU a rank), or when some ranks would
// train on GPUs and others on CPUs (--device auto on nodes with and without GPUs).
Device rank_device(const TrainConfig& c, Device parsed, distributed::Communicator& comm) {
  const int gpus = parsed.is_cuda() ? cuda_device_count() : 0;
  const RankDevice mine = data_parallel_device(c.device, parsed, distributed::nccl_built(), distributed::local_rank(), gpus);
  const std::vector<int64_t> all = comm.allgather(Tensor::from_vector(
      std::vector<int64_t>{mine.device.is_cuda(), mine.shares_gpu}, {2})).to_vector<int64_t>();  // per rank: gpu, shares
  for (int64_t r = 0; r < comm.size(); ++r) {
    TG_CHECK(all[2 * r] == all[0], "--device ", c.device, ": rank ", r, " would train on ", all[2 * r] ? "a GPU" : "the CPU",
             " and rank 0 on ", all[0] ? "a GPU" : "the CPU", "; give every rank one kind (--device cuda or --device cpu)");
    TG_CHECK(!all[2 * r + 1], "--device ", c.device, ": rank ", r, " of mpirun -np ", comm.size(), " would share its "
             "GPU with another rank of its node, and NCCL needs one GPU a rank: ", c.device.rfind("cuda:", 0) == 0
             ? "give --device cuda (each rank its own GPU: local rank mod GPUs), or start one rank a node"
             : "start at most as many ranks a node as it has GPUs (mpirun --map-by ppr:<GPUs>:node)");
  }
  return mine.device;
}

// Under data parallelism the ranks read the epoch sums every this many steps (a device sync and an
// allreduce each time): a diverged loss is seen by every rank at the same step, at most this late.
constexpr int64_t kRankReportSteps = 16;

// The epoch's running sums so far: this process's, or under data parallelism every rank's.
struct EpochSums {
  double loss = 0, correct = 0, seen = 0;
};
EpochSums epoch_sums(const Tensor& loss_sum, const Tensor& correct, int64_t seen, distributed::DataParallel* dp) {
  EpochSums s{loss_sum.item(), correct.item(), static_cast<double>(seen)};
  if (!dp) return s;
  Tensor all = Tensor::from_vector(std::vector<double>{s.loss, s.correct, s.seen}, {3});
  dp->communicator().allreduce_sum(all);
  const std::vector<double> v = all.to_vector<double>();
  return {v[0], v[1], v[2]};
}

// evaluate_clean on rank 0 alone (every rank holds its model), the result sent to the other ranks.
CleanEval evaluate_once(nn::Module& model, const Dataset& data, Device device, bool input_gradients,
                        int64_t image_size, distributed::DataParallel* dp) {
  if (!dp) return evaluate_clean(model, data, device, 256, input_gradients, image_size);
  CleanEval r;
  if (dp->rank() == 0) r = evaluate_clean(model, data, device, 256, input_gradients, image_size);
  Tensor t = Tensor::from_vector(
      std::vector<double>{r.accuracy, r.loss, r.zero_grad_fraction, static_cast<double>(r.count)}, {4});
  dp->communicator().broadcast(t, 0);
  const std::vector<double> v = t.to_vector<double>();
  r.accuracy = v[0], r.loss = v[1], r.zero_grad_fraction = v[2], r.count = static_cast<int64_t>(v[3]);
  return r;
}

}  // namespace

RankDevice data_parallel_device(const std::string& flag, Device parsed, bool nccl, int64_t local_rank, int gpus) {
  if (!parsed.is_cuda()) return {parsed};
  TG_CHECK(nccl, "--device ", flag, ": data-parallel training on GPUs reduces gradients with NCCL, and this build "
           "has no NCCL backend; build with CUDA, MPI and NCCL (meson setup -Dcuda=enabled -Dnccl=enabled) or give "
           "--device cpu");
  TG_CHECK(gpus > 0, "--device ", flag, ": this rank sees no GPU");
  if (flag.rfind("cuda:", 0) == 0) return {parsed, local_rank > 0};
  return {Device::cuda(static_cast<int>(local_rank % gpus)), local_rank >= gpus};
}

CleanEval evaluate_clean(nn::Module& model, const Dataset& data, Device device, int64_t batch_size,
                         bool input_gradients, int64_t image_size) {
  model.eval();
  nn::PrecisionScope fp32(model, nn::Precision::fp32);  // evaluation and the zero-gradient count: fp32
  // Sums stay on the device (float64 for the loss) and are read once, at the end.
  Tensor loss_sum = Tensor::zeros({}, DType::f64, device), correct = Tensor::zeros({}, DType::i64, device),
         zero_grads = Tensor::zeros({}, DType::i64, device);
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    int64_t end = std::min(begin + batch_size, data.size());
    Tensor x = model_pixels(data.images.slice_rows(begin, end), image_size).to(device);
    Tensor y = data.labels.slice_rows(begin, end).to(device);
    Variable xv(x, input_gradients);
    Variable logits = model(xv);
    Variable losses = cross_entropy_per_sample(logits, y, 1.0);
    add_(loss_sum, sum(losses.data()).to(DType::f64));
    add_(correct, attacks::count_correct(logits.data(), y));
    if (input_gradients) {
      // d(sum of per-sample losses)/dx: row i is sample i's own gradient (samples do not interact in eval).
      Tensor g = grad({losses}, {xv}, {Tensor::ones(losses.shape(), losses.dtype(), device)})[0];
      add_(zero_grads, attacks::count_zero_rows(g));
    }
  }
  CleanEval r;
  r.count = data.size();
  const double n = static_cast<double>(std::max<int64_t>(r.count, 1));
  r.accuracy = 100.0 * correct.item() / n;
  r.loss = loss_sum.item() / n;
  r.zero_grad_fraction = zero_grads.item() / n;
  return r;
}

TrainOutcome train(const TrainConfig& config_in) {
  validate(config_in);
  // mpirun -np N train: every rank trains, rank 0 alone writes the run's files and prints progress.
  distributed::Communicator* comm =
      config_in.data_parallel && distributed::world().size() > 1 ? &distributed::world() : nullptr;
  const bool writer = !comm || comm->rank() == 0;
  const std::string dir = run_dir(config_in);
  TrainConfig c = config_in;
  c.precision = resolve_precision(config_in, dir);
  const Json config = config_json(c);
  if (const std::string path = dir + "/" + schema::kMetricsFile; file_exists(path)) {
    Json m = Json::parse(read_file(path), path);
    const Json* saved = m.get("config");
    TG_CHECK(saved && saved->dump(0) == config.dump(0), dir, " holds a finished run with another configuration; ",
             "give this one another --run-id or --out-dir, or delete that folder");
    if (writer)
      std::fprintf(stderr, "%s: finished before (%s); reusing it\n", dir.c_str(), m.get(schema::kStatus)->string().c_str());
    return outcome_from_metrics(m, dir);
  }
  Device device = parse_device(c.device);
  if (device.is_cuda()) require_cuda("--device");
  set_deterministic_algorithms(c.deterministic);
  if (comm) {
    validate_data_parallel(c, comm->size());
    device = rank_device(c, device, *comm);
  }
  Dataset train_set = load_split(c, true), test_set = load_split(c, false);
  std::optional<SafetensorsFile> init;
  if (!c.init.empty()) init = load_safetensors(c.init);
  const nn::InputContract contract = input_contract(c.normalize, c.model, c.dataset, init ? &*init : nullptr);
  const size_t stats = contract.stats.mean.size();
  TG_CHECK(stats == 1 || static_cast<int64_t>(stats) == train_set.channels(), "--normalize ", c.normalize, ": ",
           stats, " means and stds for ", c.dataset, "'s ", train_set.channels(),
           "-channel images; give one value or one per channel (e.g. --normalize dataset)");
  const int64_t size = contract.input_size;
  if (writer) {
    make_dirs(dir);
    write_file_atomic(dir + "/" + schema::kConfigFile, config.dump());
  }

  manual_seed(static_cast<uint64_t>(c.seed));
  auto model = nn::create_model(c.model, {train_set.num_classes, train_set.channels(), contract});
  if (init) {
    std::vector<std::string> changed;
    model->load_state_dict(nn::adapt_state_dict(*model, init->tensors, &changed), true);
    const auto meta = nn::contract_metadata(contract);
    if (writer) {
      for (const auto& name : changed) std::fprintf(stderr, "init: %s replaced or resized to fit the model\n", name.c_str());
      std::fprintf(stderr, "init: inputs normalized with mean %s, std %s (--normalize %s)\n", meta.at("mean").c_str(),
                   meta.at("std").c_str(), c.normalize.c_str());
    }
    init.reset();  // the weights are in the model now
  }
  model->to(device);
  const nn::Precision precision = nn::parse_precision(c.precision, "--precision");
  model->set_precision(precision);
  nn::apply_tf32(precision);
  auto opt = make_optimizer(c, *model);

  LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.shuffle = true;
  lo.drop_last = train_set.size() >= 2 * c.batch_size;  // BatchNorm dislikes a tiny last batch
  lo.seed = static_cast<uint64_t>(c.seed);
  lo.num_workers = static_cast<int>(c.workers);
  lo.augment = make_augment(c, size);
  lo.pin_memory = device.is_cuda();  // batches in page-locked memory, copied while the previous step runs
  DataLoader loader(train_set, lo);
  DevicePrefetcher batches(loader, device);
  const int64_t steps_per_epoch = loader.num_batches();
  const int64_t total_steps = steps_per_epoch * c.epochs;
  optim::CosineSchedule cosine(c.lr, total_steps, static_cast<int64_t>(c.warmup_epochs * steps_per_epoch));

  int64_t step = 0, start_epoch = 0;
  if (file_exists(dir + "/checkpoint.safetensors")) {
    start_epoch = load_checkpoint(dir, *model, *opt, step, config);
    if (writer) std::fprintf(stderr, "%s: resuming after epoch %lld\n", dir.c_str(), static_cast<long long>(start_epoch));
  }
  // After the checkpoint is read on every rank (rank 0 writes the next one only after this collective).
  std::unique_ptr<distributed::DataParallel> dp;
  if (comm) {
    if (c.sync_bn) distributed::convert_sync_batch_norm(*model, *comm);
    dp = std::make_unique<distributed::DataParallel>(*model, *comm);  // rank 0's parameters and buffers
    dp->check_replicas("at the start");
    // Every rank read the same checkpoint (or none): the ranks share the run folder.
    const auto at = comm->allgather(Tensor::from_vector(std::vector<int64_t>{start_epoch, step}, {2})).to_vector<int64_t>();
    for (int64_t r = 1; r < comm->size(); ++r)
      TG_CHECK(at[2 * r] == at[0] && at[2 * r + 1] == at[1], "rank ", r, " starts ", dir, " at epoch ", at[2 * r],
               " but rank 0 at epoch ", at[0], ": the ranks of mpirun -np N train must share --out-dir (one file system)");
  }
  const std::string log_path = dir + "/" + schema::kLogFile;
  std::string log = log_rows_upto(log_path, start_epoch);

  TrainOutcome out;
  out.status = "finished";
  out.run_dir = dir;
  out.epochs_done = start_epoch;
  CleanEval last_eval;
  auto t0 = std::chrono::steady_clock::now();
  int64_t images_seen = 0;
  const int64_t end_epoch = c.stop_after > 0 ? std::min(c.epochs, start_epoch + c.stop_after) : c.epochs;
  for (int64_t epoch = start_epoch; epoch < end_epoch && out.status == "finished"; ++epoch) {
    model->train();
    batches.start_epoch(epoch);
    auto te = std::chrono::steady_clock::now();
    std::optional<Progress> bar;
    if (writer) bar.emplace("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs), steps_per_epoch, c.batch_size);
    Tensor loss_sum = Tensor::zeros({}, DType::f32, device), correct = Tensor::zeros({}, DType::i64, device);
    int64_t seen = 0, b = 0;
    auto last_report = te;
    while (auto batch = batches.next()) {
      Tensor x = batch->images;  // on the device already
      Tensor y = batch->labels;
      const int64_t batch_rows = x.size(0);
      if (dp) {  // this rank's slice of the global batch
        const auto [begin, end] = dp->local_rows(batch_rows);
        x = x.slice_rows(begin, end);
        y = y.slice_rows(begin, end);
      }
      opt->set_lr(c.schedule == "cosine" ? cosine.lr_at(step) : c.lr);
      Variable logits, loss;
      if (c.adversarial == "none") {
        logits = (*model)(Variable(x));
        loss = cross_entropy(logits, y, c.tau, c.label_smoothing);
      } else {  // the PGD start draws from the default generator, which the checkpoint saves
        auto adv = attacks::adversarial_loss(*model, x, y, default_generator(), adversarial_options(c));
        logits = adv.logits;
        loss = adv.loss;
      }
      opt->zero_grad();
      if (dp) {  // the ranks' gradients, averaged, are the global batch's mean loss's
        mul(loss, dp->loss_scale(batch_rows)).backward();
        dp->finish_gradients();
      } else {
        loss.backward();
      }
      if (c.grad_clip > 0) optim::clip_grad_norm(model->parameters(), c.grad_clip);
      opt->step();
      // Running sums stay on the device; the host reads them only when it shows progress.
      add_(loss_sum, mul(loss.data(), static_cast<double>(x.size(0))));
      add_(correct, attacks::count_correct(logits.data(), y));
      seen += x.size(0);
      ++step;
      ++b;
      // The host reads the sums (a device sync) about once a second, and at the end of the epoch. Ranks
      // read them (and allreduce them) every kRankReportSteps steps instead of by the clock, so that all of
      // them take the same decision at the same step.
      const auto now = std::chrono::steady_clock::now();
      const bool report = dp ? b % kRankReportSteps == 0 : now - last_report >= std::chrono::seconds(1);
      if (report || b == steps_per_epoch) {
        last_report = now;
        const EpochSums sums = epoch_sums(loss_sum, correct, seen, dp.get());
        double mean_loss = sums.loss / sums.seen;
        if (!std::isfinite(mean_loss)) {
          out.status = "diverged";
          if (writer)
            std::fprintf(stderr, "\n%s: the training loss is %f at epoch %lld step %lld: marked diverged\n",
                         dir.c_str(), mean_loss, static_cast<long long>(epoch + 1), static_cast<long long>(b));
          break;
        }
        char m[96];
        std::snprintf(m, sizeof m, "loss %.4f acc %.2f%%", mean_loss, 100.0 * sums.correct / sums.seen);
        if (bar) bar->update(b, m);
      }
    }
    if (out.status != "finished") break;
    const EpochSums sums = epoch_sums(loss_sum, correct, seen, dp.get());
    double train_loss = sums.loss / sums.seen;
    double train_acc = 100.0 * sums.correct / sums.seen;
    double epoch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count();
    images_seen += static_cast<int64_t>(sums.seen);
    if (dp) {  // per-rank batch norm statistics: rank 0's are the run's (and the checkpoint's)
      dp->broadcast_buffers();
      dp->check_replicas("after an epoch");
    }
    last_eval = evaluate_once(*model, test_set, device, /*input_gradients=*/epoch + 1 == c.epochs, size, dp.get());
    char m[128];
    std::snprintf(m, sizeof m, "loss %.4f acc %.2f%% | test acc %.2f%%", train_loss, train_acc, last_eval.accuracy);
    if (bar) bar->finish(m);
    char row[256];
    std::snprintf(row, sizeof row, "%lld,%.6g,%.6f,%.4f,%.6f,%.4f,%.2f,%.1f\n", static_cast<long long>(epoch + 1),
                  opt->lr(), train_loss, train_acc, last_eval.loss, last_eval.accuracy, epoch_s,
                  sums.seen / epoch_s);
    log += row;
    if (writer) {
      write_file_atomic(log_path, log_header() + log);
      save_checkpoint(dir, *model, *opt, epoch + 1, step, config, contract);
    }
    out.epochs_done = epoch + 1;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.images_per_second = out.seconds > 0 ? static_cast<double>(images_seen) / out.seconds : 0.0;
  if (out.status == "finished" && out.epochs_done < c.epochs) {  // --stop-after: resumable, no metrics yet
    out.paused = true;
    out.test_accuracy = last_eval.accuracy;
    out.test_loss = last_eval.loss;
    return out;
  }
  if (out.status == "finished" && last_eval.count == 0)
    last_eval = evaluate_once(*model, test_set, device, true, size, dp.get());
  out.test_accuracy = out.status == "finished" ? last_eval.accuracy : NAN;
  out.test_loss = out.status == "finished" ? last_eval.loss : NAN;
  out.zero_grad_fraction = out.status == "finished" ? last_eval.zero_grad_fraction : NAN;

  if (writer)
    write_file_atomic(dir + "/" + schema::kMetricsFile, metrics_json(out, device, model->num_parameters(), config).dump());
  return out;
}

}  // namespace tg::runner
