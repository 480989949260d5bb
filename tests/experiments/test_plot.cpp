// The PNG plot writer: a valid PNG of the expected size (signature and IHDR read from the bytes),
// something drawn, NaN points and log axes accepted, bad input rejected.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "experiments/runner/plot.h"
#include "experiments/runner/results.h"
#include "tensor/error.h"

using namespace tg::runner;

namespace {

uint32_t big_endian(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 | uint32_t(uint8_t(b[at + 2])) << 8 |
         uint32_t(uint8_t(b[at + 3]));
}

Panel tau_panel() {
  Panel p;
  p.title = "PGD-20 (%)";
  p.x_label = "tau";
  p.y_label = "accuracy %";
  p.log_x = true;
  p.series.push_back({"ours", {0.1, 0.5, 1, 10, 30, 50, 70, 100}, {10, 12, NAN, 30, 41.5, 50, 52, 60}});
  p.series.push_back({"paper", {0.1, 1, 100}, {11, 20, 55}});
  return p;
}

}  // namespace

TEST_CASE("plot: a multi-panel figure is a valid PNG of the expected size") {
  Panel lin = tau_panel();
  lin.log_x = false;
  lin.title = "linear x, -c/s3 & ece";
  std::vector<Panel> panels = {tau_panel(), lin, tau_panel()};

  Image img = render_plot(panels, 2, 420, 300);
  CHECK(img.width == 840);
  CHECK(img.height == 600);
  size_t ink = 0;  // pixels that are not background
  for (size_t i = 0; i < img.rgb.size(); i += 3) ink += img.rgb[i] != 255 || img.rgb[i + 1] != 255 || img.rgb[i + 2] != 255;
  CHECK(ink > 2000);
  CHECK(ink < img.rgb.size() / 3 / 2);

  auto path = std::filesystem::temp_directory_path() / "taugrad_test_plot.png";
  write_plot_png(path.string(), panels, 2, 420, 300);
  const std::string bytes = read_file(path.string());
  REQUIRE(bytes.size() > 33);
  CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(bytes.substr(12, 4) == "IHDR");
  CHECK(big_endian(bytes, 16) == 840);
  CHECK(big_endian(bytes, 20) == 600);
  std::filesystem::remove(path);
}

TEST_CASE("plot: a log axis with x <= 0 and an empty figure are errors") {
  Panel p = tau_panel();
  p.series[0].x[0] = 0;
  CHECK_THROWS_AS(render_plot({p}), tg::Error);
  CHECK_THROWS_AS(render_plot({}), tg::Error);
}
