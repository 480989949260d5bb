// Fig. 4's assembly on fake runs (no training): log.csv parsing, mean/min/max over seeds of unequal
// length, the figure's panels and bands, and make_fig4 end to end on finished runs that train() reuses.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "experiments/runner/fig4.h"
#include "experiments/runner/results.h"
#include "util/error.h"
#include "support/scratch.h"

using namespace tg::runner;

namespace {

std::string log_csv(const std::vector<double>& accuracies) {
  std::string s = "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second\n";
  for (size_t e = 0; e < accuracies.size(); ++e) {
    std::ostringstream row;
    row << e + 1 << ",0.1,1.5,40," << 1.0 / static_cast<double>(e + 1) << "," << accuracies[e] << ",2.5,100\n";
    s += row.str();
  }
  return s;
}

// A finished run as train() leaves it, as far as train() and make_fig4 read it.
void fake_finished_run(const TrainConfig& c, const std::vector<double>& accuracies) {
  const std::string dir = run_dir(c);
  make_dirs(dir);
  write_file_atomic(dir + "/log.csv", log_csv(accuracies));
  Json m = Json::object();
  m.set("status", "finished").set("config", config_json(c)).set("epochs_done", static_cast<int64_t>(accuracies.size()));
  m.set("test_accuracy", accuracies.back()).set("test_loss", 0.5).set("zero_input_grad_fraction", 0.0);
  write_file_atomic(dir + "/metrics.json", m.dump());
}

}  // namespace

TEST_CASE("fig4: a log.csv's test error per epoch, by column name") {
  const std::vector<double> e = test_errors(log_csv({60, 75.5, 80}), "log.csv");
  REQUIRE(e.size() == 3);
  CHECK(e[0] == doctest::Approx(40));
  CHECK(e[1] == doctest::Approx(24.5));
  CHECK(e[2] == doctest::Approx(20));
  CHECK(test_errors("epoch,test_accuracy\n", "empty").empty());
  const std::vector<double> gap = test_errors("test_accuracy,epoch\n90,2\n", "reordered");
  REQUIRE(gap.size() == 2);
  CHECK(std::isnan(gap[0]));
  CHECK(gap[1] == doctest::Approx(10));
  CHECK_THROWS_WITH_AS(test_errors("epoch,accuracy\n1,50\n", "runs/a/log.csv"), doctest::Contains("runs/a/log.csv"),
                       tg::Error);
  CHECK_THROWS_AS(test_errors("epoch,test_accuracy\n1,50,3\n", "x"), tg::Error);
  CHECK_THROWS_AS(test_errors("epoch,test_accuracy\n0,50\n", "x"), tg::Error);
  CHECK_THROWS_AS(test_errors("epoch,test_accuracy\none,50\n", "x"), tg::Error);
}

TEST_CASE("fig4: mean, min and max over seeds, epoch by epoch, over the seeds that reached the epoch") {
  const Fig4Curve c = fig4_curve(0.1, 50, {{30, 20, 10}, {50, 10}, {40, NAN, 16}});
  REQUIRE(c.mean.size() == 3);
  CHECK(c.mean[0] == doctest::Approx(40));
  CHECK(c.min[0] == 30);
  CHECK(c.max[0] == 50);
  CHECK(c.mean[1] == doctest::Approx(15));  // the NaN (a diverged epoch) is left out
  CHECK(c.seeds == std::vector<int>{3, 2, 2});
  CHECK(c.mean[2] == doctest::Approx(13));
  CHECK(c.min[2] == 10);
  CHECK(c.max[2] == 16);
  const Fig4Curve none = fig4_curve(0.1, 1, {{NAN}});
  CHECK(std::isnan(none.mean[0]));
  CHECK(none.seeds[0] == 0);
}

TEST_CASE("fig4: a panel per learning rate, a line and a band per tau, and the CSV") {
  const std::vector<Fig4Curve> curves = {fig4_curve(0.1, 0.5, {{50, 40}, {60, 30}}), fig4_curve(0.1, 50, {{20, 10}}),
                                         fig4_curve(0.01, 0.5, {{70, 60}})};
  const Figure f = fig4_figure(curves, "resnet20 on fashion-mnist", 2);
  REQUIRE(f.panels.size() == 2);
  CHECK(f.columns == 2);
  CHECK(f.title.find("resnet20 on fashion-mnist") != std::string::npos);
  CHECK(f.title.find("2 seeds") != std::string::npos);
  CHECK(f.panels[0].title == "learning rate 0.1");
  CHECK(f.panels[1].title == "learning rate 0.01");
  REQUIRE(f.panels[0].series.size() == 2);
  const Series& s = f.panels[0].series[0];
  CHECK(s.name == "τ = 0.5");
  CHECK(s.x == std::vector<double>{1, 2});
  CHECK(s.y == std::vector<double>{55, 35});
  CHECK(s.low == std::vector<double>{50, 30});
  CHECK(s.high == std::vector<double>{60, 40});
  CHECK(f.panels[0].x_label == "epoch");
  CHECK(f.panels[0].y_label == "test error (%)");

  const std::string csv = fig4_csv(curves);
  CHECK(csv.rfind("lr,tau,epoch,seeds,mean_test_error,min_test_error,max_test_error\n", 0) == 0);
  CHECK(csv.find("0.1,0.5,2,2,35.0000,30.0000,40.0000\n") != std::string::npos);
  CHECK(csv.find("0.01,0.5,1,1,70.0000,70.0000,70.0000\n") != std::string::npos);
}

TEST_CASE("fig4: make_fig4 reuses finished runs and writes fig4.png, fig4.svg and fig4.csv") {
  const auto dir = tg::test::scratch_path("taugrad_test_fig4");
  std::filesystem::remove_all(dir);
  Fig4Options o;
  o.profile = "quick";
  o.taus = {0.5, 50};
  o.lrs = {0.1, 0.01};
  o.seeds = {0, 1};
  o.out_dir = dir.string();
  const std::vector<TrainConfig> runs = fig4_runs(o);
  REQUIRE(runs.size() == 8);
  CHECK(runs[0].model == "resnet20");
  CHECK(runs[0].dataset == "fashion-mnist");
  CHECK(runs[0].epochs == 3);
  CHECK(runs[5].lr == 0.01);
  CHECK(runs[5].tau == 0.5);
  CHECK(runs[5].seed == 1);
  CHECK(run_dir(runs[5]) == dir.string() + "/runs/fashion-mnist_resnet20_lr0.01_tau0.5_seed1");
  for (size_t i = 0; i < runs.size(); ++i)  // seed 1 is 10 points better than seed 0
    fake_finished_run(runs[i], {50 + 5.0 * static_cast<double>(i / 2) + 10.0 * static_cast<double>(i % 2), 70, 80});

  make_fig4(o);
  const std::string csv = read_file((dir / "fig4.csv").string());
  CHECK(csv.find("0.1,0.5,1,2,45.0000,40.0000,50.0000\n") != std::string::npos);   // runs 0 and 1: 50, 60 % accurate
  CHECK(csv.find("0.01,50,1,2,30.0000,25.0000,35.0000\n") != std::string::npos);   // runs 6 and 7: 65, 75 %
  CHECK(csv.find("0.01,50,3,2,20.0000,20.0000,20.0000\n") != std::string::npos);
  const std::string svg = read_file((dir / "fig4.svg").string());
  size_t lines = 0, bands = 0;
  for (size_t i = svg.find("class=\"series\""); i != std::string::npos; i = svg.find("class=\"series\"", i + 1)) ++lines;
  for (size_t i = svg.find("class=\"band\""); i != std::string::npos; i = svg.find("class=\"band\"", i + 1)) ++bands;
  CHECK(lines == 4);
  CHECK(bands == 4);
  CHECK(read_file((dir / "fig4.png").string()).rfind("\x89PNG", 0) == 0);
  std::filesystem::remove_all(dir);

  o.given.names = {"epochs"};  // a flag the user gave wins over the profile
  o.train.epochs = 7;
  CHECK(fig4_runs(o)[0].epochs == 7);
  CHECK(fig4_runs(o)[0].train_subset == 500);
  o.profile = "fast";
  CHECK_THROWS_AS(fig4_runs(o), tg::Error);
}
