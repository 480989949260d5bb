// The result files' schema (experiments/runner/schema.h): the names other files read back are the
// ones the writers use, and evaluation.json reads back into the same numbers it was written from.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "experiments/runner/evaluation.h"
#include "experiments/runner/schema.h"
#include "support/scratch.h"

using namespace tg;
using namespace tg::runner;

TEST_CASE("schema: the table has the columns paper's report quotes") {
  const std::vector<std::string> columns = table_columns(EvalConfig{});
  for (const char* name : {schema::kCleanColumn, schema::kPgd20Column, schema::kVerdictColumn, schema::kWorstColumn}) {
    CAPTURE(name);
    CHECK(std::count(columns.begin(), columns.end(), name) == 1);
  }
}

TEST_CASE("schema: evaluation.json is config, source, results, and reads back into the same evaluation") {
  Evaluation e;
  e.test_count = 10;
  e.clean = 91.5;
  e.attacks = {{"pgd20", 40.0}, {"square", 70.5}};
  e.worst_case = 38.0;
  e.sweeps = {{"pgd20", {{0, 91.5}, {8, 40.0}}}};
  e.zero_grad_f32 = 0.25;
  e.zero_grad_f64 = 0.125;
  e.margins = {-3, -1, 2, 9, 40, 4.5};
  e.margin_above_17 = 0.1;
  e.calibration = {0.05, 0.3, 1.7, 0.02, 0.25};
  const EvalConfig config;
  const Json file = evaluation_file(e, config, Json::object().set("model", "resnet20"));
  REQUIRE(file.fields().size() >= 3);
  CHECK(file.fields()[0].first == "config");
  CHECK(file.fields()[1].first == "model");
  CHECK(file.fields()[2].first == schema::kStatus);

  const Evaluation back = evaluation_from_json(file);
  CHECK(back.status == "finished");
  CHECK(back.test_count == 10);
  CHECK(back.attacks == e.attacks);
  CHECK(back.worst_case == 38.0);
  REQUIRE(back.sweeps.size() == 1);
  CHECK(back.sweeps[0].points == e.sweeps[0].points);
  CHECK(back.zero_grad_f32 == 0.25);
  CHECK(back.zero_grad_f64 == 0.125);
  CHECK(back.margins.min == -3);
  CHECK(back.margins.p10 == -1);
  CHECK(back.margins.median == 2);
  CHECK(back.margins.p90 == 9);
  CHECK(back.margins.max == 40);
  CHECK(back.margins.mean == 4.5);
  CHECK(back.margin_above_17 == 0.1);
  CHECK(back.calibration.ece == 0.05);
  CHECK(back.calibration.nll == 0.3);
  CHECK(back.calibration.temperature == 1.7);
  CHECK(back.calibration.ece_after == 0.02);
  CHECK(back.calibration.nll_after == 0.25);

  // load_evaluation: the file of a run folder, only when it was made with the same config.
  namespace fs = std::filesystem;
  const fs::path dir = tg::test::scratch_path("taugrad_schema_");
  fs::create_directories(dir);
  write_file_atomic((dir / schema::kEvaluationFile).string(), file.dump());
  REQUIRE(load_evaluation(dir.string(), config).has_value());
  CHECK(load_evaluation(dir.string(), config)->attacks == e.attacks);
  CHECK(evaluation_done(dir.string(), config));
  EvalConfig other = config;
  other.eps = 4;
  CHECK_FALSE(load_evaluation(dir.string(), other).has_value());
  CHECK_FALSE(evaluation_done(dir.string(), other));
  fs::remove_all(dir);
}
