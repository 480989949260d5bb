// Progress for long work: a one-line bar redrawn in place on a terminal (epoch, step, loss, accuracy,
// images/s, ETA), and plain lines at a steady pace otherwise (logs, CI).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tg::runner {

class Progress {
 public:
  // `label` e.g. "epoch 3/10"; `total` steps in this phase.
  Progress(std::string label, int64_t total, int64_t items_per_step = 1);
  ~Progress();
  // Advances to `step` (1-based) and shows `metrics` (e.g. "loss 0.41 acc 86.2%").
  void update(int64_t step, const std::string& metrics = "");
  void finish(const std::string& metrics = "");

  static bool is_terminal();

 private:
  void draw(bool final);

  std::string label_, metrics_;
  int64_t total_, items_per_step_, step_ = 0;
  bool terminal_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "12s"

}  // namespace tg::runner
