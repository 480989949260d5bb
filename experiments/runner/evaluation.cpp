#include "experiments/runner/evaluation.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "data/corrupted.h"
#include "data/corruptions/corruptions.h"
#include "data/tiny_imagenet.h"
#include "data/transforms.h"
#include "distributed/shard.h"
#include "experiments/runner/progress.h"
#include "experiments/runner/schema.h"
#include "experiments/runner/training.h"
#include "experiments/runner/verdict.h"
#include "tensor/determinism.h"
#include "tensor/ops.h"

namespace tg::runner {

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// Host logits [N, K] of a whole set, converted and moved a batch at a time (sets can be large).
Tensor host_logits(const attacks::ModelFn& f, const Tensor& images, int64_t size, Device device, int64_t batch) {
  return attacks::collect_logits(
      f, images.size(0), [&](int64_t b, int64_t e) { return model_pixels(images.slice_rows(b, e), size).to(device); },
      batch);
}

// Percent of rows whose argmax is the label.
double accuracy_of(const Tensor& logits, const Tensor& labels) {
  return 100.0 * attacks::count_correct(logits, labels).item() / static_cast<double>(logits.size(0));
}

// A uint8 [N] mask as "0101..." (stored in the partial file so a resumed run can form the worst case).
std::string mask_text(const Tensor& mask) {
  std::string s;
  for (uint8_t v : mask.cpu().to_vector<uint8_t>()) s += v ? '1' : '0';
  return s;
}

Json number_pairs(const std::vector<std::pair<double, double>>& v) {
  Json a = Json::array();
  for (const auto& [x, y] : v) a.push(Json::array().push(x).push(y));
  return a;
}

double field(const Json& j, const std::string& key) {
  const Json* v = j.get(key);
  return v ? v->number() : NAN;
}

std::vector<std::pair<double, double>> pairs_of(const Json& a) {
  std::vector<std::pair<double, double>> out;
  for (const auto& p : a.items()) out.emplace_back(p.items().at(0).number(), p.items().at(1).number());
  return out;
}

// {"pgd20": [[eps, acc], ...], "worst": ...} -> the curves, in the order written.
std::vector<SweepCurve> curves_of(const Json& j) {
  std::vector<SweepCurve> out;
  if (j.kind() == Json::Kind::object)
    for (const auto& [name, points] : j.fields()) out.push_back({name, pairs_of(points)});
  return out;
}

// The calibration and margin objects of evaluation.json and of the evaluation's stages: each key beside
// the field it holds, so that writing and reading cannot disagree.
template <class T>
struct Field {
  const char* key;
  double T::*member;
};
using analysis::CalibrationReport;
using attacks::MarginSummary;
constexpr Field<CalibrationReport> kCalibrationFields[] = {
    {"ece", &CalibrationReport::ece},             {"nll", &CalibrationReport::nll},
    {"temperature", &CalibrationReport::temperature}, {"ece_after", &CalibrationReport::ece_after},
    {"nll_after", &CalibrationReport::nll_after}};
constexpr Field<MarginSummary> kMarginFields[] = {{"min", &MarginSummary::min},       {"p10", &MarginSummary::p10},
                                                  {"median", &MarginSummary::median}, {"p90", &MarginSummary::p90},
                                                  {"max", &MarginSummary::max},       {"mean", &MarginSummary::mean}};
constexpr char kAbove17[] = "fraction_above_17", kZeroGradF32[] = "zero_grad_f32", kZeroGradF64[] = "zero_grad_f64";

template <class T, size_t N>
Json& set_fields(Json& j, const T& value, const Field<T> (&fields)[N]) {
  for (const auto& f : fields) j.set(f.key, value.*f.member);
  return j;
}
template <class T, size_t N>
T get_fields(const Json& j, const Field<T> (&fields)[N]) {
  T value;
  for (const auto& f : fields) value.*f.member = field(j, f.key);
  return value;
}

// The JSON file at `path` when it exists and was made with `config` (its "config" field).
std::optional<Json> made_with(const std::string& path, const Json& config) {
  if (!file_exists(path)) return std::nullopt;
  Json j = Json::parse(read_file(path), path);
  const Json* saved = j.get("config");
  if (!saved || saved->dump(0) != config.dump(0)) return std::nullopt;
  return j;
}

}  // namespace

void add_eval_flags(Flags& f, EvalConfig& c) {
  f.add("eps", &c.eps, "l_inf budget of the attacks, in 1/255 units (8 = 8/255)");
  f.add("attack-subset", &c.attack_subset, "attack the first N test images (0 = all); the diagnostics use them too");
  f.add("attacks", &c.attacks, "comma-separated: pgd20, cw, apgd-ce, apgd-dlr, apgd-t, square, fgsm");
  f.add("apgd-iters", &c.apgd_iters, "APGD iterations (the reference: 100)");
  f.add("square-queries", &c.square_queries, "Square attack queries (the reference: 5000)");
  f.add("sweep-eps", &c.sweep_eps, "robust accuracy at these eps (1/255 units), e.g. 0,2,4,8,16,32; empty = no sweep");
  f.add("sweep-attacks", &c.sweep_attacks, "the eps sweep's curves: attacks of --attacks' kinds, and worst (the worst case over --attacks)");
  f.add("corrupted", &c.corrupted, "-C accuracy: auto (files if --corrupted-dir, else generated) | files | generate | none");
  f.add("corrupted-dir", &c.corrupted_dir, "folder of <corruption>.npy + labels.npy (CIFAR-10-C layout; `corrupt` writes one)");
  f.add("corrupted-subset", &c.corrupted_subset, "first N images of each corrupted set (0 = all; generated: the attack subset)");
  f.add("severities", &c.severities, "corruption severities to measure (the -C column is severity 3)");
  f.add("eval-batch-size", &c.batch_size, "batch size of the evaluation and the attacks");
  f.add("eval-precision", &c.precision,
        "fp32 | tf32 | bf16: the evaluation's and the attacks' GEMMs and convolutions (the masking diagnostics "
        "always run in fp32 and fp64)");
}

void validate(const EvalConfig& c) {
  TG_CHECK(c.eps >= 0, "--eps must be >= 0, got ", c.eps);
  TG_CHECK(c.attack_subset >= 0, "--attack-subset must be >= 0, got ", c.attack_subset);
  TG_CHECK(c.apgd_iters >= 1 && c.square_queries >= 1, "--apgd-iters and --square-queries must be >= 1");
  TG_CHECK(c.batch_size >= 1, "--eval-batch-size must be >= 1, got ", c.batch_size);
  nn::parse_precision(c.precision, "--eval-precision");
  const auto known = attacks::attack_names();
  for (const auto& name : attack_list(c))
    TG_CHECK(std::find(known.begin(), known.end(), name) != known.end(), "--attacks: unknown attack '", name,
             "' (known: fgsm, pgd20, cw, apgd-ce, apgd-dlr, apgd-t, square)");
  for (const auto& name : c.sweep_eps.empty() ? std::vector<std::string>{} : sweep_attack_list(c))
    TG_CHECK(std::find(known.begin(), known.end(), name) != known.end() || (name == "worst" && !attack_list(c).empty()),
             "--sweep-attacks: unknown attack '", name, "' (an attack of --attacks' kinds, or worst with --attacks given)");
  TG_CHECK(std::is_sorted(c.sweep_eps.begin(), c.sweep_eps.end()) && (c.sweep_eps.empty() || c.sweep_eps[0] >= 0),
           "--sweep-eps: give non-negative values in ascending order, e.g. 0,2,4,8,16");
  TG_CHECK(c.corrupted == "auto" || c.corrupted == "files" || c.corrupted == "generate" || c.corrupted == "none",
           "--corrupted must be auto, files, generate or none, got '", c.corrupted, "'");
  TG_CHECK(c.corrupted != "files" || !c.corrupted_dir.empty(), "--corrupted files needs --corrupted-dir");
  for (double s : c.severities)
    TG_CHECK(s == std::floor(s) && s >= 1 && s <= 5, "--severities: ", s, " is not an integer in 1..5");
}

std::vector<std::string> attack_list(const EvalConfig& c) { return split_list(c.attacks); }
std::vector<std::string> sweep_attack_list(const EvalConfig& c) { return split_list(c.sweep_attacks); }

Json eval_config_json(const EvalConfig& c) {
  Json sev = Json::array(), sweep = Json::array();
  for (double s : c.severities) sev.push(s);
  for (double e : c.sweep_eps) sweep.push(e);
  Json j = Json::object();
  j.set("eps_255", c.eps).set("attack_subset", c.attack_subset).set("attacks", c.attacks);
  j.set("apgd_iters", c.apgd_iters).set("square_queries", c.square_queries);
  j.set("sweep_eps_255", sweep).set("sweep_attacks", c.sweep_attacks);
  j.set("corrupted", c.corrupted).set("corrupted_dir", c.corrupted_dir).set("corrupted_subset", c.corrupted_subset);
  j.set("severities", sev).set("seed", c.seed);
  // Random attack starts are drawn per test sample (attacks/rng.h), so sharded and whole evaluations
  // agree; files written before (per-batch draws, other numbers) lack this key and are evaluated anew.
  j.set("attack_random", "per-sample");
  if (c.precision != "fp32") j.set("precision", c.precision);
  return j;
}

std::string attack_title(const std::string& name) {
  if (name == "pgd20") return "PGD-20";
  if (name == "cw") return "C&W";
  if (name == "fgsm") return "FGSM";
  if (name == "square") return "Square";
  if (name == "worst") return "worst case";
  std::string s = name;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  return s;
}

std::vector<CorruptedSet> corrupted_sets(const Dataset& test, const EvalConfig& c) {
  validate(c);
  std::string mode = c.corrupted;
  if (mode == "auto") mode = c.corrupted_dir.empty() ? "generate" : "files";
  std::vector<CorruptedSet> out;
  if (mode == "none") return out;
  const std::vector<std::string> names = corruption_names();
  if (mode == "files") {
    // Tiny-ImageNet-C (<dir>/<corruption>/<severity>/<wnid>/*.JPEG) when a corruption is a folder,
    // labelled by the test set's classes, which must be Tiny-ImageNet's sorted wnids. The subset is drawn by the seed (the files are sorted by
    // class, so the first N would hold few classes); the same images for every corruption.
    bool tiny_c = false;
    for (const auto& name : names) tiny_c = tiny_c || std::filesystem::is_directory(c.corrupted_dir + "/" + name);
    if (tiny_c) {
      const std::vector<std::string>& wnids = test.class_names;
      TG_CHECK(!wnids.empty() && static_cast<int64_t>(wnids.size()) == test.num_classes &&
                   std::is_sorted(wnids.begin(), wnids.end()),
               c.corrupted_dir, " is in the Tiny-ImageNet-C layout, but the test set ", test.name,
               " does not name its classes by sorted wnids (load it with --dataset tiny-imagenet)");
      for (const auto& name : names) {
        if (!std::filesystem::is_directory(c.corrupted_dir + "/" + name)) continue;
        for (double s : c.severities) {
          Dataset d = load_tiny_imagenet_c(c.corrupted_dir, name, static_cast<int>(s), wnids);
          if (c.corrupted_subset > 0 && c.corrupted_subset < d.size())
            d = subset(d, c.corrupted_subset, static_cast<uint64_t>(c.seed));
          out.push_back({name, static_cast<int>(s), std::move(d)});
        }
      }
      return out;
    }
    for (const auto& name : names) {
      if (!file_exists(c.corrupted_dir + "/" + name + ".npy")) continue;
      for (double s : c.severities) {
        Dataset d = load_corrupted(c.corrupted_dir, name, static_cast<int>(s), test.num_classes);
        if (c.corrupted_subset > 0 && c.corrupted_subset < d.size()) d = subset(d, c.corrupted_subset);
        out.push_back({name, static_cast<int>(s), std::move(d)});
      }
    }
    TG_CHECK(!out.empty(), c.corrupted_dir, ": no <corruption>.npy of the 15 corruptions (gaussian_noise.npy, ...); ",
             "write one with `corrupt --dataset NAME --out DIR`, or pass --corrupted generate");
    return out;
  }
  int64_t n = c.corrupted_subset > 0 ? c.corrupted_subset : c.attack_subset > 0 ? c.attack_subset : test.size();
  const Dataset base = n < test.size() ? subset(test, n) : test;
  TG_CHECK(base.images.dtype() == DType::u8, "corrupted_sets: ", base.name, " is not uint8 pixels");
  const ImageKind kind = base.height() == 64 ? ImageKind::tiny64 : ImageKind::cifar32;
  Progress progress("corrupting " + std::to_string(base.size()) + " images",
                    static_cast<int64_t>(names.size() * c.severities.size()), base.size());
  int64_t step = 0;
  for (size_t index = 0; index < names.size(); ++index) {
    for (double s : c.severities) {
      // The stream of (corruption, severity), as the `corrupt` binary derives it.
      Generator gen;
      gen.set_state(static_cast<uint64_t>(c.seed), (static_cast<uint64_t>(index) * 5 + static_cast<uint64_t>(s - 1)) << 40);
      Dataset d = base;
      d.images = corrupt_batch(base.images, names[index], static_cast<int>(s), gen, kind);
      d.name = base.name + "-c/" + names[index];
      out.push_back({names[index], static_cast<int>(s), std::move(d)});
      progress.update(++step, names[index] + " s" + std::to_string(static_cast<int>(s)));
    }
  }
  progress.finish();
  return out;
}

double Evaluation::attack(const std::string& name) const {
  for (const auto& [n, v] : attacks)
    if (n == name) return v;
  return NAN;
}

Json evaluation_json(const Evaluation& e) {
  Json j = Json::object();
  j.set(schema::kStatus, e.status).set("test_count", e.test_count).set("attack_count", e.attack_count);
  j.set("corrupted_count", e.corrupted_count).set("clean", e.clean).set("clean_subset", e.clean_subset);
  j.set("corrupted_s3", e.corrupted_s3).set("corrupted_mean", e.corrupted_mean);
  Json a = Json::object(), sweeps = Json::object();
  for (const auto& [name, v] : e.attacks) a.set(name, v);
  for (const auto& curve : e.sweeps) sweeps.set(curve.attack, number_pairs(curve.points));
  j.set("attacks", a).set("worst_case", e.worst_case).set("eps_sweep", sweeps);
  j.set(kZeroGradF32, e.zero_grad_f32).set(kZeroGradF64, e.zero_grad_f64);
  Json m = Json::object();
  j.set("margins", set_fields(m, e.margins, kMarginFields).set(kAbove17, e.margin_above_17));
  Json cal = Json::object();
  set_fields(cal, e.calibration, kCalibrationFields).set("heldout", "even-indexed test images; measured on the odd-indexed ones");
  j.set("calibration", cal).set("seconds", e.seconds);
  return j;
}

Evaluation evaluation_from_json(const Json& j) {
  Evaluation e;
  e.status = j.get(schema::kStatus)->string();
  e.test_count = static_cast<int64_t>(field(j, "test_count"));
  e.attack_count = static_cast<int64_t>(field(j, "attack_count"));
  e.corrupted_count = static_cast<int64_t>(field(j, "corrupted_count"));
  e.clean = field(j, "clean");
  e.clean_subset = field(j, "clean_subset");
  e.corrupted_s3 = field(j, "corrupted_s3");
  e.corrupted_mean = field(j, "corrupted_mean");
  if (const Json* a = j.get("attacks"))
    for (const auto& [name, v] : a->fields()) e.attacks.emplace_back(name, v.number());
  e.worst_case = field(j, "worst_case");
  if (const Json* s = j.get("eps_sweep")) e.sweeps = curves_of(*s);
  e.zero_grad_f32 = field(j, kZeroGradF32);
  e.zero_grad_f64 = field(j, kZeroGradF64);
  if (const Json* m = j.get("margins")) {
    e.margins = get_fields(*m, kMarginFields);
    e.margin_above_17 = field(*m, kAbove17);
  }
  if (const Json* c = j.get("calibration")) e.calibration = get_fields(*c, kCalibrationFields);
  e.seconds = field(j, "seconds");
  return e;
}

Json evaluation_file(const Evaluation& e, const EvalConfig& config, const Json& source) {
  Json file = Json::object();
  file.set("config", eval_config_json(config));
  const Json results = evaluation_json(e);
  for (const Json* part : {&source, &results})
    for (const auto& [key, value] : part->fields()) file.set(key, value);
  return file;
}

namespace {

// A column: its name, its number in an evaluation and its decimals, or (text columns) its text.
struct Column {
  std::string name;
  std::function<double(const Evaluation&)> value;
  int decimals = 0;
  std::function<std::string(const Evaluation&)> text = nullptr;
};

std::vector<Column> columns(const EvalConfig& c) {
  std::vector<Column> paper = {{schema::kCleanColumn, [](const Evaluation& e) { return e.clean; }, 2},
                               {"-C (s3) %", [](const Evaluation& e) { return e.corrupted_s3; }, 2}};
  std::vector<Column> ours;
  for (const auto& name : attack_list(c)) {
    Column col{attack_title(name) + " %", [name](const Evaluation& e) { return e.attack(name); }, 2};
    (name == "pgd20" || name == "cw" ? paper : ours).push_back(col);
  }
  paper.push_back({schema::kVerdictColumn, nullptr, 0, [](const Evaluation& e) { return verdict(e); }});
  ours.push_back({schema::kWorstColumn, [](const Evaluation& e) { return e.worst_case; }, 2});
  ours.push_back({"-C (mean) %", [](const Evaluation& e) { return e.corrupted_mean; }, 2});
  ours.push_back({"zero-grad f32 %", [](const Evaluation& e) { return 100 * e.zero_grad_f32; }, 1});
  ours.push_back({"zero-grad f64 %", [](const Evaluation& e) { return 100 * e.zero_grad_f64; }, 1});
  ours.push_back({"median margin", [](const Evaluation& e) { return e.margins.median; }, 2});
  ours.push_back({"margin > 17 %", [](const Evaluation& e) { return 100 * e.margin_above_17; }, 1});
  ours.push_back({"ECE", [](const Evaluation& e) { return e.calibration.ece; }, 4});
  ours.push_back({"NLL", [](const Evaluation& e) { return e.calibration.nll; }, 4});
  ours.push_back({"ECE after T", [](const Evaluation& e) { return e.calibration.ece_after; }, 4});
  ours.push_back({"fitted T", [](const Evaluation& e) { return e.calibration.temperature; }, 3});
  paper.insert(paper.end(), ours.begin(), ours.end());
  return paper;
}

}  // namespace

std::vector<std::string> table_columns(const EvalConfig& c, bool numeric) {
  std::vector<std::string> out;
  for (const auto& col : columns(c))
    if (!numeric || !col.text) out.push_back(col.name);
  return out;
}

std::vector<double> table_values(const Evaluation& e, const EvalConfig& c) {
  std::vector<double> out;
  for (const auto& col : columns(c))
    if (!col.text) out.push_back(e.status == "finished" ? col.value(e) : NAN);
  return out;
}

std::vector<std::string> table_cells(const Evaluation& e, const EvalConfig& c) {
  std::vector<std::string> out;
  for (const auto& col : columns(c)) {
    if (col.text) {
      out.push_back(col.text(e));
      continue;
    }
    const double v = col.value(e);
    out.push_back(e.status != "finished" ? e.status : std::isnan(v) ? "n/a" : fixed(v, col.decimals));
  }
  return out;
}

namespace {

// Who evaluates which rows: with ranks, each rank its shard of every set (distributed/shard.h: whole
// batches, contiguous, in rank order) and the per-sample results gathered in set order; without, this
// process all of them.
struct Shards {
  distributed::Communicator* ranks;
  int64_t batch;
  distributed::Shard of(int64_t n) const { return ranks ? distributed::shard_of(n, batch, *ranks) : distributed::Shard{0, n}; }
  Tensor gather(const Tensor& local, int64_t n) const {
    return ranks ? distributed::gather_shards(*ranks, local, n, batch) : local;
  }
};

Tensor doubles(const std::vector<double>& v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}); }

// The ones of a host uint8 mask, and their fraction.
int64_t ones(const Tensor& mask) {
  const std::vector<uint8_t> m = mask.to_vector<uint8_t>();
  return static_cast<int64_t>(std::count(m.begin(), m.end(), uint8_t{1}));
}
double mean_of(const Tensor& mask) {
  return mask.numel() == 0 ? 0.0 : static_cast<double>(ones(mask)) / static_cast<double>(mask.numel());
}

}  // namespace

Evaluation evaluate_model(nn::Module& model, const Dataset& test, const std::vector<CorruptedSet>& corrupted,
                          const EvalConfig& c, int64_t image_size, Json* partial, const std::function<void()>& save,
                          distributed::Communicator* ranks) {
  validate(c);
  TG_CHECK(test.size() >= 2, "evaluate: the test set has ", test.size(), " images; at least 2 are needed");
  const auto t0 = std::chrono::steady_clock::now();
  const Device device = parse_device(c.device);
  set_deterministic_algorithms(c.deterministic);
  model.to(device);
  model.eval();
  nn::PrecisionScope precision(model, nn::parse_precision(c.precision, "--eval-precision"));
  const attacks::ModelFn f = attacks::as_model_fn(model);
  const int64_t bs = c.batch_size;
  const Shards shards{ranks, bs};
  Json local = Json::object();
  Json& done = partial ? *partial : local;
  // A stage runs once: its result is kept in `done` (and saved) so a resumed evaluation skips it.
  auto stage = [&](const std::string& key, const std::function<Json()>& compute) -> Json {
    if (const Json* j = done.get(key)) return *j;
    Json v = compute();
    done.set(key, v);
    if (save) save();
    return v;
  };
  // The host logits [N, K] of a set's images: this rank's shard, gathered.
  auto set_logits = [&](const Tensor& images) {
    const distributed::Shard s = shards.of(images.size(0));
    const Tensor z = s.size() == 0 ? Tensor::empty({0, test.num_classes})
                                   : host_logits(f, images.slice_rows(s.begin, s.end), image_size, device, bs);
    return shards.gather(z, images.size(0));
  };

  Evaluation e;
  e.test_count = test.size();
  // Clean accuracy and calibration, from the logits of the whole test split.
  Json clean = stage("clean", [&] {
    std::fprintf(stderr, "evaluate: clean accuracy and calibration on %lld images\n", static_cast<long long>(test.size()));
    Tensor z = set_logits(test.images);
    std::vector<int64_t> even, odd;
    for (int64_t i = 0; i < test.size(); ++i) (i % 2 == 0 ? even : odd).push_back(i);
    auto rows = [&](const Tensor& t, const std::vector<int64_t>& idx) {
      return index_select(t, 0, attacks::index_tensor(idx, Device::cpu()));
    };
    Tensor y = test.labels.cpu();
    auto cal = analysis::calibration(rows(z, even), rows(y, even), rows(z, odd), rows(y, odd));
    Json j = Json::object();
    return set_fields(j.set("accuracy", accuracy_of(z, y)), cal, kCalibrationFields);
  });
  e.clean = field(clean, "accuracy");
  e.calibration = get_fields(clean, kCalibrationFields);

  // -C: mean accuracy over the corruptions, per severity.
  if (!corrupted.empty()) {
    e.corrupted_count = corrupted.front().data.size();
    double total = 0;
    int64_t count = 0;
    for (double s : c.severities) {
      Json sev = stage("corrupted_s" + std::to_string(static_cast<int>(s)), [&] {
        Json j = Json::object();
        const auto sets = std::count_if(corrupted.begin(), corrupted.end(),
                                        [&](const CorruptedSet& set) { return set.severity == static_cast<int>(s); });
        Progress progress("-C severity " + std::to_string(static_cast<int>(s)), sets, e.corrupted_count);
        int64_t step = 0;
        for (const auto& set : corrupted) {
          if (set.severity != static_cast<int>(s)) continue;
          j.set(set.corruption, accuracy_of(set_logits(set.data.images), set.data.labels));
          progress.update(++step, set.corruption);
        }
        progress.finish();
        return j;
      });
      double sum = 0;
      for (const auto& [name, v] : sev.fields()) sum += v.number();
      if (sev.fields().empty()) continue;
      const double mean = sum / static_cast<double>(sev.fields().size());
      if (static_cast<int>(s) == 3) e.corrupted_s3 = mean;
      total += mean;
      ++count;
    }
    if (count > 0) e.corrupted_mean = total / static_cast<double>(count);
  }

  // The attack subset: this rank's shard of it, on the device. Point i of the subset draws its random
  // numbers as sample i (attacks/rng.h), whichever rank and batch attack it.
  const Dataset sub = c.attack_subset > 0 && c.attack_subset < test.size() ? subset(test, c.attack_subset) : test;
  e.attack_count = sub.size();
  const distributed::Shard mine = shards.of(sub.size());
  const int64_t n_mine = mine.size();
  const Tensor xa = n_mine == 0 ? Tensor() : model_pixels(sub.images.slice_rows(mine.begin, mine.end), image_size).to(device);
  const Tensor ya = sub.labels.slice_rows(mine.begin, mine.end).to(device);
  auto gathered = [&](const Tensor& local) { return shards.gather(local, sub.size()); };
  auto keyed_rng = [&](uint64_t stream) {
    return attacks::AttackRng::per_sample(attacks::mix_seed(static_cast<uint64_t>(c.seed), stream), mine.begin, n_mine);
  };
  const Tensor no_rows = Tensor::zeros({0}, DType::u8);
  e.clean_subset = field(stage("clean_subset", [&] {
    const Tensor correct = gathered(n_mine == 0 ? no_rows : attacks::correct_mask(f, xa, ya, bs));
    return Json::object().set("accuracy", 100.0 * mean_of(correct));
  }), "accuracy");

  // Each attack on its own (every attack starts from all clean-correct points), then the worst case.
  const auto names = attack_list(c);
  std::string worst(static_cast<size_t>(sub.size()), '1');
  for (size_t a = 0; a < names.size(); ++a) {
    Json r = stage("attack_" + names[a], [&] {
      attacks::NamedAttack attack = attacks::make_attack(names[a], c.eps / 255, static_cast<int>(c.square_queries),
                                                         static_cast<int>(c.apgd_iters));
      const attacks::AttackRng rng = keyed_rng(static_cast<uint64_t>(a) + 1);
      const int64_t batches = (n_mine + bs - 1) / bs;
      Progress progress(attack_title(names[a]) + " (" + std::to_string(a + 1) + "/" + std::to_string(names.size()) + ")",
                        batches, std::min(bs, n_mine));
      std::vector<Tensor> masks = {no_rows};
      int64_t robust = 0;
      for (int64_t b = 0; b < batches; ++b) {
        const int64_t lo = b * bs, hi = std::min(lo + bs, n_mine);
        masks.push_back(attacks::robust_mask(f, attack, xa.slice_rows(lo, hi), ya.slice_rows(lo, hi), rng.rows(lo, hi), bs));
        robust += ones(masks.back());
        std::ostringstream os;
        os << "robust " << fixed(100.0 * static_cast<double>(robust) / static_cast<double>(hi), 1) << "%";
        progress.update(b + 1, os.str());
      }
      progress.finish();
      const Tensor mask = gathered(concat(masks, 0));
      return Json::object()
          .set("accuracy", 100.0 * static_cast<double>(ones(mask)) / static_cast<double>(sub.size()))
          .set("robust", mask_text(mask));
    });
    e.attacks.emplace_back(names[a], field(r, "accuracy"));
    const std::string& mask = r.get("robust")->string();
    for (size_t i = 0; i < worst.size() && i < mask.size(); ++i)
      if (mask[i] == '0') worst[i] = '0';
  }
  if (!names.empty())
    e.worst_case = 100.0 * static_cast<double>(std::count(worst.begin(), worst.end(), '1')) /
                   static_cast<double>(sub.size());

  // Gradient masking: exactly-zero input gradients in float32 and float64, and the logit margins.
  Json mask = stage("masking", [&] {
    std::fprintf(stderr, "evaluate: masking diagnostics (float32 and float64 input gradients) on %lld images\n",
                 static_cast<long long>(sub.size()));
    nn::PrecisionScope fp32(model, nn::Precision::fp32);  // whatever --eval-precision says
    attacks::MaskingDiagnostics d;
    if (n_mine > 0) d = attacks::masking_diagnostics(model, xa, ya, bs);
    const Tensor zero_f32 = gathered(n_mine > 0 ? d.zero_rows_f32 : no_rows);
    const Tensor zero_f64 = gathered(n_mine > 0 ? d.zero_rows_f64 : no_rows);
    const std::vector<double> margins = gathered(doubles(d.margins)).to_vector<double>();
    const double above = static_cast<double>(std::count_if(margins.begin(), margins.end(), [](double m) { return m > 17; }));
    Json j = Json::object();
    j.set(kZeroGradF32, mean_of(zero_f32)).set(kZeroGradF64, mean_of(zero_f64));
    set_fields(j, attacks::summarize(margins), kMarginFields);
    return j.set(kAbove17, above / static_cast<double>(margins.size()));
  });
  e.zero_grad_f32 = field(mask, kZeroGradF32);
  e.zero_grad_f64 = field(mask, kZeroGradF64);
  e.margins = get_fields(mask, kMarginFields);
  e.margin_above_17 = field(mask, kAbove17);

  // Robust accuracy against eps, a curve per sweep attack: a real attack drives it to 0 as eps grows.
  if (!c.sweep_eps.empty()) {
    Json sweep = stage("eps_sweep", [&] {
      Json curves = Json::object();
      const auto sweeps = sweep_attack_list(c);
      for (size_t k = 0; k < sweeps.size(); ++k) {
        std::fprintf(stderr, "evaluate: eps sweep (%s) at %s /255\n", attack_title(sweeps[k]).c_str(),
                     join_numbers(c.sweep_eps).c_str());
        auto make_one = [&](const std::string& name, double eps) {
          return attacks::make_attack(name, eps, static_cast<int>(c.square_queries), static_cast<int>(c.apgd_iters));
        };
        auto make = [&](double eps) {
          if (sweeps[k] != "worst") return make_one(sweeps[k], eps);
          std::vector<attacks::NamedAttack> parts;
          for (const auto& name : names) parts.push_back(make_one(name, eps));
          return attacks::worst_case_attack(std::move(parts));
        };
        std::vector<double> eps;
        for (double v : c.sweep_eps) eps.push_back(v / 255);
        const Tensor masks = n_mine == 0 ? Tensor::zeros({static_cast<int64_t>(eps.size()), 0}, DType::u8)
            : attacks::eps_sweep_masks(f, make, eps, xa, ya, keyed_rng(names.size() + 1 + k), bs);
        std::vector<std::pair<double, double>> points;
        for (size_t i = 0; i < eps.size(); ++i) {
          const int64_t row = static_cast<int64_t>(i);
          points.emplace_back(eps[i] * 255, 100.0 * mean_of(gathered(masks.slice_rows(row, row + 1).reshape({-1}))));
        }
        curves.set(sweeps[k], number_pairs(points));
      }
      return curves;
    });
    e.sweeps = curves_of(sweep);
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

Dataset run_test_set(const std::string& run_dir) {
  const std::string path = run_dir + "/" + schema::kConfigFile;
  TG_CHECK(file_exists(path), path, ": not found; is ", run_dir, " a run folder of `train`?");
  Json cfg = Json::parse(read_file(path), path);
  TrainConfig tc;
  tc.dataset = cfg.get("dataset")->string();
  tc.data_dir = cfg.get("data_dir")->string();
  tc.test_subset = static_cast<int64_t>(cfg.get("test_subset")->number());
  return load_split(tc, false);
}

bool evaluation_done(const std::string& run_dir, const EvalConfig& c) {
  return made_with(run_dir + "/" + schema::kEvaluationFile, eval_config_json(c)).has_value();
}

std::optional<Evaluation> load_evaluation(const std::string& run_dir, const EvalConfig& c) {
  const std::optional<Json> j = made_with(run_dir + "/" + schema::kEvaluationFile, eval_config_json(c));
  return j ? std::optional(evaluation_from_json(*j)) : std::nullopt;
}

Evaluation evaluate_run(const std::string& run_dir, const EvalConfig& c, const std::vector<CorruptedSet>* corrupted,
                        distributed::Communicator* ranks) {
  validate(c);
  if (std::optional<Evaluation> done = load_evaluation(run_dir, c)) {
    std::fprintf(stderr, "%s: evaluated before with the same settings; reusing %s\n", run_dir.c_str(),
                 schema::kEvaluationFile);
    return *done;
  }
  const std::string partial_path = run_dir + "/evaluation.partial.json";
  const bool writer = !ranks || ranks->rank() == 0;
  auto write = [&](const Evaluation& e) {
    if (!writer) return;
    write_file_atomic(run_dir + "/" + schema::kEvaluationFile, evaluation_file(e, c).dump());
    std::filesystem::remove(partial_path);
  };
  const std::string metrics = run_dir + "/" + schema::kMetricsFile;
  TG_CHECK(file_exists(metrics), metrics, ": not found; the run has not finished training (run train or table1 again)");
  const std::string status = Json::parse(read_file(metrics), metrics).get(schema::kStatus)->string();
  if (status != "finished") {
    Evaluation e;
    e.status = status;
    write(e);
    return e;
  }

  Dataset test = run_test_set(run_dir);
  RunModel run = load_run_model(run_dir, test.num_classes, test.channels());  // with the run's normalization

  const Json config = eval_config_json(c);
  Json stages = Json::object();
  if (std::optional<Json> p = made_with(partial_path, config); p && p->get("stages")) {
    stages = *p->get("stages");
    std::fprintf(stderr, "%s: resuming the evaluation (%zu stages done)\n", run_dir.c_str(), stages.fields().size());
  }
  auto save = [&] {
    if (!writer) return;
    Json p = Json::object();
    p.set("config", config).set("stages", stages);
    write_file_atomic(partial_path, p.dump());
  };
  std::vector<CorruptedSet> built;
  if (!corrupted) built = corrupted_sets(test, c);
  Evaluation e = evaluate_model(*run.model, test, corrupted ? *corrupted : built, c, run.contract.input_size, &stages, save,
                                ranks);
  write(e);
  return e;
}

}  // namespace tg::runner
