// The result files' names, and the keys and columns that another file reads back, named once for
// their writer and their readers:
//   a run folder <out-dir>/<run-id>/: config.json and log.csv and metrics.json (training.cpp writes
//   them; evaluation.cpp, sweep.cpp, fig4.cpp and predict read them), evaluation.json (evaluation.cpp:
//   evaluation_file writes it, load_evaluation reads it);
//   a sweep folder: table.csv (sweep.cpp writes it, paper reads it).
// Each JSON object is built by one function (training.cpp: metrics_json; evaluation.cpp:
// evaluation_file) beside the one that reads it.
#pragma once

#include <array>

namespace tg::runner::schema {

inline constexpr char kConfigFile[] = "config.json";
inline constexpr char kLogFile[] = "log.csv";
inline constexpr char kMetricsFile[] = "metrics.json";
inline constexpr char kEvaluationFile[] = "evaluation.json";
inline constexpr char kTableFile[] = "table.csv";

// metrics.json and evaluation.json: "finished", or "diverged" (the training loss became NaN).
inline constexpr char kStatus[] = "status";

// log.csv, a row per epoch; metrics.json has the last test accuracy under the same name.
inline constexpr char kEpoch[] = "epoch";
inline constexpr char kTestAccuracy[] = "test_accuracy";
inline constexpr std::array<const char*, 8> kLogColumns = {
    kEpoch, "lr", "train_loss", "train_accuracy", "test_loss", kTestAccuracy, "seconds", "images_per_second"};

// The table's columns that paper's report quotes (evaluation.cpp: table_columns; sweep.cpp adds tau).
inline constexpr char kTauColumn[] = "tau";
inline constexpr char kCleanColumn[] = "clean %";
inline constexpr char kPgd20Column[] = "PGD-20 %";
inline constexpr char kVerdictColumn[] = "verdict";
inline constexpr char kWorstColumn[] = "worst case %";

}  // namespace tg::runner::schema
