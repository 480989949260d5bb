// Fig. 4 of the paper: test error per epoch while training at tau 0.5, 1 and 50, the mean over 6 seeds
// as a line and their min-max as a shaded band, one panel per learning rate (SGD at 0.1 and 0.01).
// make_fig4 trains each (lr, tau, seed) run with `train` (a finished run is reused, a killed one
// resumed), reads each run's log.csv, and rewrites <out_dir>/fig4.{png,svg,csv} after every run; the
// runs live in <out_dir>/runs/<dataset>_<model>_lr<lr>_tau<tau>_seed<seed>/.
//   profile paper: ResNet-50 (CIFAR stem) on CIFAR-10 for 200 epochs, as table1's paper profile.
//   profile quick: ResNet-20 on 500 Fashion-MNIST images (500 test images), 3 epochs of
//   batches of 50, on the CPU.
#pragma once

#include <string>
#include <vector>

#include "experiments/runner/plot.h"
#include "experiments/runner/sweep.h"
#include "experiments/runner/training.h"

namespace tg::runner {

struct Fig4Options {
  std::string profile = "paper";  // paper | quick: the defaults of every train setting not in `given`
  std::vector<double> taus = {0.5, 1, 50};
  std::vector<double> lrs = {0.1, 0.01};  // a panel each
  std::vector<double> seeds = {0, 1, 2, 3, 4, 5};
  TrainConfig train;                     // the settings the runs share (tau, lr, seed and run_id are set per run)
  GivenFlags given;                      // the train settings the user gave (the profile leaves them alone)
  std::string out_dir = "results/figures/fig4";
};

// One temperature at one learning rate: the test error (%) per epoch over the seeds that reached it.
struct Fig4Curve {
  double lr = 0, tau = 0;
  std::vector<double> mean, min, max;  // index epoch - 1; NaN where no seed reached the epoch
  std::vector<int> seeds;              // how many seeds reached each epoch
};

// The runs make_fig4 trains, in order (lr, then tau, then seed), with the profile applied.
std::vector<TrainConfig> fig4_runs(const Fig4Options& options);
// Trains (or reuses) every run and writes <out_dir>/fig4.{png,svg,csv}.
void make_fig4(const Fig4Options& options);

// The test error (100 - test_accuracy) per epoch of a run's log.csv text; `source` names it in errors.
std::vector<double> test_errors(const std::string& log_csv, const std::string& source);
// Mean, min and max over seeds, epoch by epoch (the seeds' error lists may differ in length).
Fig4Curve fig4_curve(double lr, double tau, const std::vector<std::vector<double>>& errors_per_seed);
// A panel per learning rate, a line and band per tau; `subject` says what was trained on what.
Figure fig4_figure(const std::vector<Fig4Curve>& curves, const std::string& subject, size_t seeds);
// lr,tau,epoch,seeds,mean_test_error,min_test_error,max_test_error
std::string fig4_csv(const std::vector<Fig4Curve>& curves);

}  // namespace tg::runner
