#include "experiments/runner/figures.h"

#include "nn/models/registry.h"

#include <algorithm>
#include <cstdio>

#include "nn/models/factory.h"
#include "tensor/safetensors.h"
#include "util/error.h"

namespace tg::runner {

FigureContext::FigureContext(std::string name, FigureOptions options, TrainConfig train, const GivenFlags& given,
                             const std::string& sweep_name)
    : name_(std::move(name)), options_(std::move(options)), train_(std::move(train)) {
  TG_CHECK(options_.profile == "paper" || options_.profile == "quick", "--profile must be quick or paper, got '",
           options_.profile, "'");
  TG_CHECK(!given("tau"), "give the temperatures with --taus (e.g. --taus 1,10,50), not --tau");
  TG_CHECK(!given("run-id"), "--run-id does not apply (each run is named by its tau and seed)");
  TG_CHECK(!given("stop-after"), "--stop-after does not apply (a figure needs finished runs)");
  quick_ = options_.profile == "quick";
  SweepOptions sweep;
  sweep.profile = options_.profile;
  TG_CHECK(sweep_name == "table1" || sweep_name == "table2", name_, ": no profile for sweep '", sweep_name, "'");
  (sweep_name == "table1" ? table1_profile : table2_profile)(quick_, given, sweep, train_);
  if (options_.taus.empty()) options_.taus = sweep.taus;
  TG_CHECK(!options_.taus.empty(), "--taus: give at least one temperature");
  for (double tau : options_.taus) TG_CHECK(tau > 0, "--taus: temperatures must be > 0, got ", tau);
  if (options_.samples < 0) options_.samples = quick_ ? 1000 : 0;
  if (options_.attack_samples < 0) options_.attack_samples = quick_ ? 200 : 0;
  TG_CHECK(options_.examples >= 1, "--examples must be >= 1, got ", options_.examples);
  TG_CHECK(options_.first_example >= 0, "--first-example must be >= 0, got ", options_.first_example);
  if (!given("out-dir")) train_.out_dir = sweep_dir(sweep_name, train_);
  device_ = parse_device(train_.device);
  out_dir_ = options_.out_root + "/" + name_;
}

TrainedRun FigureContext::run(double tau) const {
  TrainConfig c = train_;
  c.tau = tau;
  std::fprintf(stderr, "%s: the run at tau %s (%s)\n", name_.c_str(), number_text(tau).c_str(), run_dir(c).c_str());
  const TrainOutcome outcome = train(c);
  TrainedRun r;
  r.tau = tau;
  r.run_dir = outcome.run_dir;
  r.status = outcome.status;
  r.reused = outcome.reused;
  if (outcome.status != "finished") return r;
  const Dataset& data = test();
  // Built with the normalization the run trained with, its weights loaded.
  r.model = std::dynamic_pointer_cast<nn::Classifier>(load_run_model(r.run_dir, data.num_classes, data.channels()).model);
  TG_CHECK(r.model, name_, ": the model '", c.model, "' does not expose its features and prototypes ",
           "(nn::Classifier); the figures need a model that does (e.g. --model resnet20)");
  r.model->to(device_);
  r.model->eval();
  return r;
}

void FigureContext::each_run(const std::function<void(const TrainedRun&)>& fn) const {
  for (double tau : options_.taus) {
    const TrainedRun r = run(tau);
    if (r.model) fn(r);
    else std::fprintf(stderr, "%s: the run at tau %s %s; left out\n", name_.c_str(), number_text(tau).c_str(), r.status.c_str());
  }
}

const Dataset& FigureContext::test() const {
  if (!test_) {
    Dataset data = load_split(train_, false);
    if (options_.samples > 0 && options_.samples < data.size()) data = subset(data, options_.samples);
    test_ = std::move(data);
  }
  return *test_;
}

Tensor FigureContext::pixels(int64_t begin, int64_t end) const {
  return model_pixels(test().images.slice_rows(begin, end), nn::model_spec(train_.model).input_size).to(device_);
}

Tensor FigureContext::labels(int64_t begin, int64_t end) const {
  return test().labels.slice_rows(begin, end).to(device_);
}

std::vector<int64_t> FigureContext::example_indices() const {
  const int64_t n = test().size();
  TG_CHECK(options_.first_example + options_.examples <= n, "--first-example ", options_.first_example,
           " + --examples ", options_.examples, " exceeds the ", n, " test images analysed (--samples)");
  std::vector<int64_t> indices(static_cast<size_t>(options_.examples));
  for (size_t i = 0; i < indices.size(); ++i) indices[i] = options_.first_example + static_cast<int64_t>(i);
  return indices;
}

std::string FigureContext::class_name(int64_t label) const {
  const auto& names = test().class_names;
  return label >= 0 && label < static_cast<int64_t>(names.size()) ? names[label] : std::to_string(label);
}

void FigureContext::write_figure(const Figure& figure) const {
  make_dirs(out_dir_);
  runner::write_figure(path(name_), figure);
}

void FigureContext::write_csv(const std::string& file, const std::vector<std::string>& header,
                              const std::vector<std::vector<std::string>>& rows) const {
  make_dirs(out_dir_);
  write_file_atomic(path(file), csv_table(header, rows));
}

int figure_main(const FigureSpec& spec, int argc, char** argv) {
  FigureOptions o;
  TrainConfig t;
  Flags f(spec.name, spec.summary);
  f.add("profile", &o.profile, "paper (table1's: ResNet-50 on CIFAR-10, all taus) | quick (table1 --profile quick's "
                               "runs on Fashion-MNIST); explicit flags override it");
  f.add("taus", &o.taus, "training temperatures (empty = the profile's)");
  f.add("samples", &o.samples, "test images analysed (0 = all, -1 = the profile's: quick 1000, paper all)");
  f.add("attack-samples", &o.attack_samples, "test images attacked (Fig. 5; 0 = all analysed, -1 = the profile's: quick 200, paper all)");
  f.add("examples", &o.examples, "samples shown one by one (Figs. 5 and 6)");
  f.add("first-example", &o.first_example, "index of the first sample shown");
  f.add("out-root", &o.out_root, "the figure goes to <out-root>/<name>/");
  add_train_flags(f, t);
  try {
    GivenFlags given;
    if (!f.parse(argc, argv, &given.names)) return 0;
    FigureContext context(spec.name, o, t, given, spec.sweep);
    spec.make(context);
    return 0;
  } catch (const Error& err) {
    std::fprintf(stderr, "%s: error: %s\n", spec.name.c_str(), err.what());
    return 2;
  }
}

}  // namespace tg::runner
