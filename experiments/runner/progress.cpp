#include "experiments/runner/progress.h"

#include <unistd.h>

#include <cstdio>

namespace tg::runner {

std::string format_duration(double s) {
  char buf[32];
  long t = static_cast<long>(s + 0.5);
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", t);
  }
  return buf;
}

bool Progress::is_terminal() { return isatty(fileno(stderr)) != 0; }

Progress::Progress(std::string label, int64_t total, int64_t items_per_step)
    : label_(std::move(label)),
      total_(total),
      items_per_step_(items_per_step),
      terminal_(is_terminal()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && step_ > 0) finish(metrics_);
}

void Progress::update(int64_t step, const std::string& metrics) {
  step_ = step;
  metrics_ = metrics;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  // A terminal redraws 5 times a second; a log gets a line every 10 s.
  if (since >= (terminal_ ? 0.2 : 10.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish(const std::string& metrics) {
  if (!metrics.empty()) metrics_ = metrics;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(step_ * items_per_step_) / elapsed : 0.0;
  double eta = step_ > 0 ? elapsed * static_cast<double>(total_ - step_) / static_cast<double>(step_) : 0.0;
  char line[512];
  if (terminal_) {
    const int width = 24;
    int filled = total_ > 0 ? static_cast<int>(width * step_ / total_) : width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(width, '.');
    std::snprintf(line, sizeof line, "\r%s [%s] %lld/%lld %s %.0f img/s %s %s\033[K", label_.c_str(), bar.c_str(),
                  static_cast<long long>(step_), static_cast<long long>(total_), metrics_.c_str(), rate,
                  final ? "took" : "ETA", format_duration(final ? elapsed : eta).c_str());
    std::fputs(line, stderr);
    if (final) std::fputs("\n", stderr);
  } else {
    std::snprintf(line, sizeof line, "%s step %lld/%lld %s %.0f img/s %s %s\n", label_.c_str(),
                  static_cast<long long>(step_), static_cast<long long>(total_), metrics_.c_str(), rate,
                  final ? "took" : "ETA", format_duration(final ? elapsed : eta).c_str());
    std::fputs(line, stderr);
  }
  std::fflush(stderr);
}

}  // namespace tg::runner
