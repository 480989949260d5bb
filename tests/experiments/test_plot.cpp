// The figure writer, checked on its pixels and its SVG text (no golden images): a valid PNG of the
// expected size; a band's pixels between its low and high; a box's median line at the median's row and
// its outlier drawn; a legend that shows each series and stays off the data; log ticks at decades with
// minor ticks between; NaN breaking a line; bars as tall as their values; an SVG that is well-formed
// XML with one path per series; bad input rejected.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <vector>

#include "experiments/runner/plot.h"
#include "experiments/runner/results.h"
#include "util/error.h"
#include "support/scratch.h"

using namespace tg::runner;

namespace {

using Rgb = std::array<int, 3>;

Rgb at(const Image& img, double x, double y) {
  const int xi = static_cast<int>(std::floor(x)), yi = static_cast<int>(std::floor(y));
  if (xi < 0 || yi < 0 || xi >= img.width || yi >= img.height) {
    FAIL_CHECK("pixel (", xi, ", ", yi, ") is outside the ", img.width, "x", img.height, " image");
    return {-1, -1, -1};
  }
  const uint8_t* p = &img.rgb[(static_cast<size_t>(yi) * static_cast<size_t>(img.width) + static_cast<size_t>(xi)) * 3];
  return {p[0], p[1], p[2]};
}
bool gray(Rgb c) { return c[0] == c[1] && c[1] == c[2]; }  // background, grid, axes and text
bool white(Rgb c) { return c == Rgb{255, 255, 255}; }
bool in_legend(const Axes& a, double x, double y) {
  return x >= a.legend_left && x < a.legend_left + a.legend_width && y >= a.legend_top && y < a.legend_top + a.legend_height;
}

uint32_t big_endian(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 | uint32_t(uint8_t(b[at + 2])) << 8 |
         uint32_t(uint8_t(b[at + 3]));
}

Panel tau_panel() {
  Panel p;
  p.title = "PGD-20 (%)";
  p.x_label = "τ";
  p.y_label = "accuracy (%)";
  p.log_x = true;
  p.series.push_back({.name = "ours", .x = {0.1, 0.5, 1, 10, 30, 50, 70, 100}, .y = {10, 12, NAN, 30, 41.5, 50, 52, 60}});
  p.series.push_back({.name = "paper", .x = {0.1, 1, 100}, .y = {11, 20, 55}});
  return p;
}

Figure one_panel(const Panel& p) {
  Figure f;
  f.panels = {p};
  return f;
}

// Well-formed XML as far as an SVG writer needs: matched tags, quoted attributes, escaped text.
// Returns the names of the elements in document order; `problems` counts what is malformed.
std::vector<std::string> xml_elements(const std::string& s, int& problems) {
  std::vector<std::string> stack, seen;
  problems = 0;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      const std::string entity = s.substr(i, semi == std::string::npos ? 1 : semi - i + 1);
      problems += entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;";
      i += entity.size();
    } else if (s[i] == '>') {
      ++problems, ++i;
    } else if (s[i] != '<') {
      ++i;
    } else if (s.compare(i, 2, "<?") == 0) {
      const size_t end = s.find("?>", i);
      if (end == std::string::npos) return ++problems, seen;
      i = end + 2;
    } else {
      bool quoted = false;
      size_t end = i + 1;
      for (; end < s.size() && (quoted || s[end] != '>'); ++end) {
        problems += s[end] == '<';
        if (s[end] == '"') quoted = !quoted;
      }
      if (end == s.size()) return ++problems, seen;
      const std::string tag = s.substr(i + 1, end - i - 1);
      i = end + 1;
      if (tag[0] == '/') {
        problems += stack.empty() || stack.back() != tag.substr(1);
        if (!stack.empty()) stack.pop_back();
        continue;
      }
      seen.push_back(tag.substr(0, tag.find_first_of(" /")));
      if (tag.back() != '/') stack.push_back(seen.back());
    }
  }
  problems += static_cast<int>(stack.size());
  return seen;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
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

  const std::string path = tg::test::scratch_path("taugrad_test_plot").string() + ".png";
  write_plot_png(path, panels, 2, 420, 300);
  const std::string bytes = read_file(path);
  REQUIRE(bytes.size() > 33);
  CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(bytes.substr(12, 4) == "IHDR");
  CHECK(big_endian(bytes, 16) == 840);
  CHECK(big_endian(bytes, 20) == 600);
  std::filesystem::remove(path);
}

TEST_CASE("plot: write_figure writes <stem>.png at `scale` pixels a unit and <stem>.svg") {
  Figure f;
  f.title = "test error on Fashion-MNIST";
  f.panels = {tau_panel(), tau_panel()};
  f.columns = 2;
  const std::string stem = tg::test::scratch_path("taugrad_test_figure").string();
  write_figure(stem, f);
  const std::string png = read_file(stem + ".png"), svg = read_file(stem + ".svg");
  CHECK(big_endian(png, 16) == 2 * 840);
  CHECK(big_endian(png, 20) == 2 * (300 + 30));  // the panels and the figure title's band
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find(">test error on Fashion-MNIST</text>") != std::string::npos);
  std::filesystem::remove(stem + ".png");
  std::filesystem::remove(stem + ".svg");
}

TEST_CASE("plot: a title too wide for the figure is set smaller and wrapped at word boundaries") {
  Figure f = one_panel(Panel{});
  f.panel_width = 200;
  f.title = "Test error during training, resnet20 on fashion-mnist";
  const std::string svg = figure_svg(f);
  std::vector<std::string> lines;
  for (size_t i = svg.find("<text"); i != std::string::npos; i = svg.find("<text", i + 1)) {
    const size_t from = svg.find('>', i) + 1;
    lines.push_back(svg.substr(from, svg.find("</text>", from) - from));
  }
  REQUIRE(lines.size() >= 3);  // the title's lines come first
  CHECK(lines[0] + " " + lines[1] + (lines[2].find("fashion") != std::string::npos ? " " + lines[2] : "") == f.title);
  CHECK(lines[0].size() * 6 * 1.5 <= 200);  // 6 units a character at 3/4 of size 2
}

TEST_CASE("plot: lower case and Greek letters have glyphs of their own") {
  auto title_image = [](const std::string& title) {
    Figure f = one_panel(Panel{});
    f.title = title;
    return render_figure(f).rgb;
  };
  CHECK(title_image("tau") != title_image("TAU"));
  CHECK(title_image("τ ε") != title_image(""));
  CHECK(title_image("τ") != title_image("ε"));
}

TEST_CASE("plot: a band's pixels lie between its low and high") {
  Series s{.name = "mean over seeds", .x = {1, 2, 3, 4, 5, 6}, .y = {5, 4, 4.5, 3, 2.5, 2.6}};
  const std::vector<double> spread = {0.5, 1.5, 0.2, 1, 0.8, 0.1};
  for (size_t i = 0; i < s.x.size(); ++i) s.low.push_back(s.y[i] - spread[i]), s.high.push_back(s.y[i] + 2 * spread[i]);
  Panel p;
  p.series = {s};
  std::vector<Axes> axes;
  const Image img = render_figure(one_panel(p), &axes);
  REQUIRE(axes.size() == 1);
  const Axes& a = axes[0];
  const Rgb line = at(img, a.px(1), a.py(5));
  CHECK(!gray(line));

  size_t band = 0, outside = 0;
  double area = 0;
  for (int x = static_cast<int>(a.px(1)); x < static_cast<int>(a.px(6)); ++x) {
    const double cx = x + 0.5;
    size_t i = 0;
    while (i + 2 < s.x.size() && a.px(s.x[i + 1]) < cx) ++i;
    const double t = (cx - a.px(s.x[i])) / (a.px(s.x[i + 1]) - a.px(s.x[i]));
    const double top = a.py(s.high[i]) + t * (a.py(s.high[i + 1]) - a.py(s.high[i]));
    const double bottom = a.py(s.low[i]) + t * (a.py(s.low[i + 1]) - a.py(s.low[i]));
    area += bottom - top;
    for (int y = static_cast<int>(a.top); y < static_cast<int>(a.top + a.height); ++y) {
      const Rgb c = at(img, x, y);
      if (gray(c) || c == line || in_legend(a, x, y)) continue;
      ++band;
      outside += y + 0.5 < top - 0.5 || y + 0.5 > bottom + 0.5;
    }
  }
  CHECK(outside == 0);
  CHECK(band > area / 2);  // the band is filled, not just outlined (the line covers part of it)
}

TEST_CASE("plot: a box's median line is at the median's row, its outlier is drawn") {
  Panel p;
  p.boxes = {{"skewed", {1, 2, 3, 4, 100}}, {"even", {10, 11, 12, 13, 14, 15, 16, 17}}};
  std::vector<Axes> axes;
  const Image img = render_figure(one_panel(p), &axes);
  const Axes& a = axes[0];
  const double medians[] = {3, 13.5};
  for (int i = 0; i < 2; ++i) {
    const double half = a.px(0.25) - a.px(0), x = a.px(i) + half / 2;  // off the mean marker at the centre
    std::vector<int> black;
    for (int y = static_cast<int>(a.top); y < static_cast<int>(a.top + a.height); ++y)
      if (at(img, x, y) == Rgb{0, 0, 0}) black.push_back(y);
    REQUIRE(!black.empty());
    for (int y : black) CHECK(std::abs(y + 0.5 - a.py(medians[i])) <= 2.5);  // a 2-unit line, 2 pixels a unit
  }
  CHECK(!white(at(img, a.px(0), a.py(100))));  // the outlier's dot
  CHECK(white(at(img, a.px(0), a.py(50))));    // no whisker up to it
}

TEST_CASE("plot: the legend names each series and stays off the data") {
  Panel p;
  p.series = {{.name = "τ = 1", .x = {0, 5, 10}, .y = {0, 5, 10}}, {.name = "τ = 50", .x = {0, 5, 10}, .y = {1, 6, 11}}};
  std::vector<Axes> axes;
  const Image img = render_figure(one_panel(p), &axes);
  const Axes& a = axes[0];
  REQUIRE(a.legend_width > 0);
  REQUIRE(a.legend_height > 0);
  const Rgb first = at(img, a.px(5), a.py(5)), second = at(img, a.px(5), a.py(6));
  CHECK(first != second);
  size_t n_first = 0, n_second = 0, n_black = 0;
  for (int y = static_cast<int>(a.legend_top); y < a.legend_top + a.legend_height; ++y)
    for (int x = static_cast<int>(a.legend_left); x < a.legend_left + a.legend_width; ++x) {
      const Rgb c = at(img, x, y);
      n_first += c == first, n_second += c == second, n_black += c == Rgb{0, 0, 0};
    }
  CHECK(n_first > 10);
  CHECK(n_second > 10);
  CHECK(n_black > 20);  // the names
  for (const Series& s : p.series)  // the data run bottom-left to top-right: the legend takes the top left
    for (double x = 0; x <= 10; x += 0.25) CHECK(!in_legend(a, a.px(x), a.py(s.y[0] + x)));
  CHECK(a.legend_left < a.px(5));

  p.series[0].name = p.series[1].name = "";
  render_figure(one_panel(p), &axes);
  CHECK(axes[0].legend_width == 0);
}

TEST_CASE("plot: the legend stays off shaded bands, not just off their bounding boxes") {
  // As in Fig. 4 at lr 0.01: a flat band along the top, a falling band from top left to bottom right;
  // only the bottom left is free.
  Panel p;
  p.series = {{.name = "τ = 50", .x = {1, 2, 3}, .y = {88, 88, 88}, .low = {84, 84, 84}, .high = {91, 91, 91}},
              {.name = "τ = 0.5", .x = {1, 2, 3}, .y = {80, 62, 50}, .low = {75, 54, 40}, .high = {86, 80, 62}}};
  std::vector<Axes> axes;
  render_figure(one_panel(p), &axes);
  const Axes& a = axes[0];
  REQUIRE(a.legend_width > 0);
  auto data_x = [&](double px) { return a.x_lo + (px - a.left) / a.width * (a.x_hi - a.x_lo); };
  auto data_y = [&](double py) { return a.y_lo + (a.top + a.height - py) / a.height * (a.y_hi - a.y_lo); };
  const double top = data_y(a.legend_top), bottom = data_y(a.legend_top + a.legend_height);
  for (double px = a.legend_left; px <= a.legend_left + a.legend_width; px += 1) {
    const double x = std::clamp(data_x(px), 1.0, 3.0), t = x <= 2 ? x - 1 : x - 2;
    for (const Series& s : p.series) {
      const size_t i = x <= 2 ? 0 : 1;
      const double low = s.low[i] + t * (s.low[i + 1] - s.low[i]), high = s.high[i] + t * (s.high[i + 1] - s.high[i]);
      CHECK((bottom > high || top < low));  // the legend's rows miss the band at this column
    }
  }
}

TEST_CASE("plot: a log axis has its major ticks at decades, minor ticks between, labels at decades") {
  Panel p;
  p.log_x = true;
  p.series = {{.x = {0.1, 0.5, 1, 10, 30, 100}, .y = {1, 2, 3, 4, 5, 6}}};
  std::vector<Axes> axes;
  const Image img = render_figure(one_panel(p), &axes);
  const Axes& a = axes[0];
  const double bottom = a.top + a.height, unit = 2;                  // 2 pixels a unit
  const double major_only = bottom + 3 * unit, any_tick = bottom + 1.5 * unit;  // majors 4 units long, minors 2
  const double label_top = bottom + 8 * unit, label_bottom = bottom + 15 * unit;
  auto ink_below = [&](double x, double y0, double y1) {
    for (double y = y0; y < y1; ++y)
      for (double dx = -2; dx <= 2; ++dx)
        if (!white(at(img, x + dx, y))) return true;
    return false;
  };
  for (double decade : {0.1, 1.0, 10.0, 100.0}) {
    CHECK(!white(at(img, a.px(decade), major_only)));
    CHECK(ink_below(a.px(decade), label_top, label_bottom));
  }
  for (double minor : {0.2, 0.5, 2.0, 5.0, 30.0, 50.0}) {
    CHECK(white(at(img, a.px(minor), major_only)));
    CHECK(!white(at(img, a.px(minor), any_tick)));
  }
  CHECK(white(at(img, a.px(0.15), any_tick)));  // between ticks
  CHECK(!ink_below(a.px(0.5), label_top, label_bottom));  // a data value, not a decade: no label
}

TEST_CASE("plot: linear ticks are round 1-2-5 steps, whole numbers on a whole-number axis") {
  Panel p;
  p.series = {{.x = {1, 2, 3}, .y = {0.13, 0.5, 0.87}}};
  const std::string svg = figure_svg(one_panel(p));
  for (const char* label : {">0.2<", ">0.4<", ">0.6<", ">0.8<", ">1<", ">2<", ">3<"}) CHECK(svg.find(label) != std::string::npos);
  for (const char* label : {">0.3<", ">1.5<", ">2.5<", ">0.13<"}) CHECK(svg.find(label) == std::string::npos);
  p.series[0].x = {1, 2, 3.5};  // not whole numbers: half steps allowed
  CHECK(figure_svg(one_panel(p)).find(">1.5<") != std::string::npos);
}

TEST_CASE("plot: NaN breaks a line, in the PNG and in the SVG") {
  Panel p;
  p.series = {{.x = {1, 2, 3, 4, 5}, .y = {1, 2, NAN, 4, 5}, .markers = false}};
  std::vector<Axes> axes;
  const Image img = render_figure(one_panel(p), &axes);
  const Axes& a = axes[0];
  CHECK(!gray(at(img, a.px(1.5), a.py(1.5))));
  CHECK(!gray(at(img, a.px(4.5), a.py(4.5))));
  CHECK(gray(at(img, a.px(3), a.py(3))));  // where the line 2 -> 4 would pass
  const std::string svg = figure_svg(one_panel(p));
  const size_t at_series = svg.find("class=\"series\"");
  REQUIRE(at_series != std::string::npos);
  const std::string d = svg.substr(at_series, svg.find("/>", at_series) - at_series);
  CHECK(count(d, "M") == 2);
}

TEST_CASE("plot: grouped bars are as tall as their values") {
  Panel p;
  p.categories = {"clean", "PGD"};
  p.bars = {{"", {3, 5}}, {"", {4, 1}}};
  std::vector<Axes> axes;
  const Image img = render_figure(one_panel(p), &axes);
  const Axes& a = axes[0];
  CHECK(a.py(0) == doctest::Approx(a.top + a.height));  // bars stand on the x axis
  for (size_t g = 0; g < 2; ++g)
    for (size_t i = 0; i < 2; ++i) {
      const double x = a.px(static_cast<double>(i) - 0.4 + 0.4 * static_cast<double>(g) + 0.2), v = p.bars[g].values[i];
      CHECK(!gray(at(img, x, a.py(v) + 1.5)));
      CHECK(gray(at(img, x, a.py(v) - 1.5)));
    }
}

TEST_CASE("plot: the SVG is well-formed, with one path per series and text as <text>") {
  Figure f;
  f.title = "a < b & c";
  Panel p = tau_panel();
  p.series.push_back({.name = "band only", .x = {1, 10}, .y = {20, 30}, .low = {15, 25}, .high = {25, 35}, .line = false});
  Panel boxes;
  boxes.boxes = {{"x", {1, 2, 3}}};
  Panel bars;
  bars.categories = {"u", "v"};
  bars.bars = {{"g", {1, 2}}};
  Panel scatter;
  scatter.scatter = {{"class 0", {1, 2}, {3, 4}}, {"class 1", {0, 1}, {1, 0}}};
  f.panels = {p, boxes, bars, scatter};
  f.columns = 2;
  const std::string svg = figure_svg(f);
  int problems = -1;
  const std::vector<std::string> elements = xml_elements(svg, problems);
  CHECK(problems == 0);
  REQUIRE(!elements.empty());
  CHECK(elements[0] == "svg");
  CHECK(count(svg, "class=\"series\"") == 2);  // the third series is a band only
  CHECK(count(svg, "class=\"band\"") == 1);
  CHECK(count(svg, "class=\"median\"") == 1);
  CHECK(count(svg, "class=\"bar\"") == 2);
  CHECK(count(svg, "class=\"scatter\"") == 2);
  CHECK(svg.find(">a &lt; b &amp; c</text>") != std::string::npos);
  CHECK(svg.find(">τ</text>") != std::string::npos);
}

TEST_CASE("plot: bad input is an error that names the panel") {
  Panel p = tau_panel();
  p.series[0].x[0] = 0;
  CHECK_THROWS_AS(render_plot({p}), tg::Error);
  CHECK_THROWS_AS(render_plot({}), tg::Error);
  p = tau_panel();
  p.series[1].low = {1, 2};
  p.series[1].high = {3, 4};
  CHECK_THROWS_WITH_AS(render_plot({p}), doctest::Contains("PGD-20"), tg::Error);
  Panel bars;
  bars.categories = {"a", "b"};
  bars.bars = {{"g", {1}}};
  CHECK_THROWS_AS(render_plot({bars}), tg::Error);
}
