// The plumbing of the figure commands (fig1, fig5, ...; `paper` calls them in-process): a
// FigureContext holds what every figure of the paper needs, built the same way for each:
// - the profile (`--profile quick|paper`) and the training temperatures, as table1 builds them
//   (sweep.h's table1_profile), so a figure reuses table1's finished runs (and the quickstart's) and
//   trains the missing ones with `train()` (a killed one resumes);
// - per tau, the trained model loaded in eval mode on the device, as an nn::Classifier (features f(x)
//   and the prototypes W, nn/models/classifier.h);
// - the run's test split (the first --samples images of it), and the images as the model takes them;
// - the output folder results/figures/<name>/ and writers for <name>.csv and the figure.
// figure_main parses the flags of a figure command (--help lists them) and runs one figure.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "experiments/runner/plot.h"
#include "experiments/runner/sweep.h"
#include "nn/models/classifier.h"

namespace tg::runner {

// The options every figure command has, beside the train flags that identify the runs.
struct FigureOptions {
  std::string profile = "paper";   // quick | paper: table1's profile of the same name
  std::vector<double> taus;        // empty = the profile's (table1's)
  int64_t samples = -1;            // test images analysed: 0 = all, -1 = the profile's (quick 1000, paper all)
  int64_t attack_samples = -1;     // test images attacked (Fig. 5): 0 = all analysed, -1 = the profile's
                                   // (quick 200, as table1's attack subset; paper all)
  int64_t examples = 3;            // samples shown one by one (Figs. 5 and 6)
  int64_t first_example = 0;       // the first of them (an index into the test split)
  std::string out_root = "results/figures";
};

// A trained run at one tau, its model loaded.
struct TrainedRun {
  double tau = 1;
  std::string run_dir, status;               // status: finished | diverged
  bool reused = false;                       // finished before (by table1, the quickstart or a figure)
  std::shared_ptr<nn::Classifier> model;     // eval mode, on the context's device; null when diverged
};

class FigureContext {
 public:
  // `given`: the flags the user gave (the profile fills in the others, as `sweep` does: table1 or table2,
  // whose runs the figure reuses).
  FigureContext(std::string name, FigureOptions options, TrainConfig train, const GivenFlags& given,
                const std::string& sweep = "table1");

  const std::string& name() const { return name_; }
  bool quick() const { return quick_; }
  const FigureOptions& options() const { return options_; }
  const TrainConfig& train_config() const { return train_; }  // tau is set per run
  const std::vector<double>& taus() const { return options_.taus; }
  Device device() const { return device_; }
  const std::string& out_dir() const { return out_dir_; }    // results/figures/<name>
  std::string path(const std::string& file) const { return out_dir_ + "/" + file; }

  // The run at `tau`: reused when finished, else trained (or resumed) now; its model loaded.
  TrainedRun run(double tau) const;
  // run(tau) for every tau in order, calling `fn` with each finished one (a diverged run is reported
  // and skipped).
  void each_run(const std::function<void(const TrainedRun&)>& fn) const;
  // The test split of the runs, cut to the first options().samples images (loaded once).
  const Dataset& test() const;
  // Rows [begin, end) of the test images as the model takes them (float32 in [0, 1], resized when the
  // model needs a fixed size), on the device; and their labels (int64, on the device).
  Tensor pixels(int64_t begin, int64_t end) const;
  Tensor labels(int64_t begin, int64_t end) const;
  // The examples shown one by one: options().examples indices from options().first_example.
  std::vector<int64_t> example_indices() const;

  // A class's name for labels ("T-shirt/top"), or its number when the dataset has no names.
  std::string class_name(int64_t label) const;

  // <out_dir>/<file>, a CSV table, written atomically.
  void write_csv(const std::string& file, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) const;
  // <out_dir>/<name>.png and <name>.svg.
  void write_figure(const Figure& figure) const;

 private:
  std::string name_;
  FigureOptions options_;
  TrainConfig train_;
  bool quick_ = false;
  Device device_;
  std::string out_dir_;
  mutable std::optional<Dataset> test_;
};

// A figure of the paper, callable in-process: `paper` runs a list of them with one profile.
struct FigureSpec {
  std::string name;     // "fig1": the command, its folder results/figures/<name>/
  std::string summary;  // the first lines of --help
  std::function<void(FigureContext&)> make;
  std::string sweep = "table1";  // whose profile and runs: table1 (ResNet) or table2 (ViT)
};

// Parses argv (--help prints the flags and returns 0), builds the context and runs spec.make. Returns
// 0, or 2 after printing a tg::Error as "<name>: error: ...".
int figure_main(const FigureSpec& spec, int argc, char** argv);

}  // namespace tg::runner
