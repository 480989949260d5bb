#include "experiments/runner/plot.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "experiments/runner/results.h"
#include "experiments/runner/surface.h"
#include "util/error.h"

namespace tg::runner {

namespace {

using namespace draw;

// ---- axes ----
struct Tick {
  double at;  // in axis coordinates (log10 of x on a log axis)
  std::string label;
  bool major = true;
};

std::string fixed_text(double v, int decimals) {
  char buf[48];
  if (std::abs(v) >= 1e6 || (v != 0 && std::abs(v) < 1e-4))
    std::snprintf(buf, sizeof buf, "%g", v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// 1-2-5 steps: multiples of the step inside [lo, hi], about five of them (whole numbers when
// `integers`, e.g. epochs).
std::vector<Tick> linear_ticks(double lo, double hi, bool integers = false) {
  const double raw = (hi - lo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw))), r = raw / mag;
  const double step = std::max((r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag, integers ? 1.0 : 0.0);
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  std::vector<Tick> ticks;
  for (double i = std::ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; ++i) {
    const double v = std::abs(i) < 0.5 ? 0 : i * step;
    ticks.push_back({v, fixed_text(v, decimals)});
  }
  return ticks;
}

// Labelled decades and unlabelled minor ticks at 2..9 x 10^k; with fewer than two decades in range 2
// and 5 get labels too, and with fewer than two labels then, every tick.
std::vector<Tick> log_ticks(double lo, double hi) {
  auto label = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return std::string(buf);
  };
  int decades = 0;
  for (int k = static_cast<int>(std::ceil(lo - 1e-9)); k <= hi + 1e-9; ++k) ++decades;
  std::vector<Tick> ticks;
  for (int k = static_cast<int>(std::floor(lo)); k <= static_cast<int>(std::ceil(hi)); ++k)
    for (int m = 1; m <= 9; ++m) {
      const double v = m * std::pow(10.0, k), at = std::log10(v);
      if (at < lo - 1e-9 || at > hi + 1e-9) continue;
      const bool labelled = m == 1 || (decades < 2 && (m == 2 || m == 5));
      ticks.push_back({at, labelled ? label(v) : "", m == 1});
    }
  if (std::count_if(ticks.begin(), ticks.end(), [](const Tick& t) { return !t.label.empty(); }) < 2)
    for (Tick& t : ticks) t.label = label(std::pow(10.0, t.at));
  return ticks;
}

// The range of some values, padded by 5% each side (a flat range by +-1 or 10%).
void padded(double& lo, double& hi, double minimum_pad) {
  if (!(hi > lo)) {
    const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= d, hi += d;
  }
  const double pad = std::max(0.05 * (hi - lo), minimum_pad);
  lo -= pad, hi += pad;
}

// Quartiles (linear interpolation between order statistics), whiskers at the furthest points within
// 1.5 IQR of the box, the points beyond, and the mean.
struct BoxStats {
  double q1, median, q3, low, high, mean;
  std::vector<double> outliers;
};
BoxStats box_stats(std::vector<double> v) {
  std::erase_if(v, [](double x) { return !std::isfinite(x); });
  std::sort(v.begin(), v.end());
  auto quantile = [&](double q) {
    const double pos = q * static_cast<double>(v.size() - 1);
    const size_t i = static_cast<size_t>(pos);
    return i + 1 < v.size() ? v[i] + (pos - static_cast<double>(i)) * (v[i + 1] - v[i]) : v[i];
  };
  BoxStats s{quantile(0.25), quantile(0.5), quantile(0.75), 0, 0, 0, {}};
  const double iqr = s.q3 - s.q1;
  s.low = s.q1, s.high = s.q3;
  double sum = 0;
  for (double x : v) {
    sum += x;
    if (x < s.q1 - 1.5 * iqr || x > s.q3 + 1.5 * iqr)
      s.outliers.push_back(x);
    else
      s.low = std::min(s.low, x), s.high = std::max(s.high, x);
  }
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

// ---- titles ----
constexpr double kTick = 1, kLabel = 1, kTitle = 1.5, kFigureTitle = 2;  // text sizes

// A title as drawn: one line at its size when it fits the width, else its words wrapped at 3/4 of it.
struct Title {
  std::vector<std::string> lines;
  double size;
  double height() const { return lines.empty() ? 0 : (12 * static_cast<double>(lines.size()) - 3) * size; }
  // Centred on x, the first line's capitals starting at y.
  void draw(Surface& s, double x, double y) const {
    for (size_t i = 0; i < lines.size(); ++i)
      s.text(lines[i], x, y + (kCap + 12 * static_cast<double>(i)) * size, size, Anchor::middle, kBlack);
  }
};
Title fit_title(const std::string& text, double size, double width) {
  if (text.empty()) return {{}, size};
  if (text_width(text, size) <= width) return {{text}, size};
  Title t{{}, size * 0.75};
  std::string line;
  std::istringstream words(text);
  for (std::string w; words >> w;) {
    const std::string longer = line.empty() ? w : line + " " + w;
    if (!line.empty() && text_width(longer, t.size) > width)
      t.lines.push_back(line), line = w;
    else
      line = longer;
  }
  t.lines.push_back(line);
  return t;
}

// ---- a panel ----
constexpr double kLine = 1.5, kMarker = 2.5, kScatter = 1.6, kBandOpacity = 0.22, kBoxOpacity = 0.25;

struct LegendEntry {
  std::string name;
  Rgb c;
  bool line = false, marker = false, patch = false;  // patch: a filled square (a band, bars)
  double patch_opacity = 1;
};

class PanelPainter {
 public:
  PanelPainter(Surface& s, const Panel& p, double x0, double y0, double w, double h) : s_(s), p_(p) {
    check();
    ranges();
    layout(x0, y0, w, h);
  }
  Axes axes(double k) const {
    Axes a;
    a.left = left_ * k, a.top = top_ * k, a.width = width_ * k, a.height = height_ * k;
    a.x_lo = xlo_, a.x_hi = xhi_, a.y_lo = ylo_, a.y_hi = yhi_, a.log_x = log_x_;
    a.legend_left = legend_.x * k, a.legend_top = legend_.y * k, a.legend_width = legend_w_ * k;
    a.legend_height = legend_h_ * k;
    return a;
  }

  void draw() {
    title_.draw(s_, left_ + width_ / 2, title_top_);
    for (const Tick& t : yticks_) s_.segment({left_, Y(t.at)}, {left_ + width_, Y(t.at)}, kGrid, 0.5, "grid");
    for (const Tick& t : xticks_)
      if (t.major && !categorical_) s_.segment({X(t.at), top_}, {X(t.at), top_ + height_}, kGrid, 0.5, "grid");
    s_.clip(left_, top_, width_, height_);
    data();
    s_.unclip();
    frame();
    legend();
  }

 private:
  double X(double axis_x) const { return left_ + (axis_x - xlo_) / (xhi_ - xlo_) * width_; }
  double Y(double y) const { return top_ + height_ - (y - ylo_) / (yhi_ - ylo_) * height_; }
  double ax(double x) const { return log_x_ ? std::log10(x) : x; }  // data x to axis x

  void check() const {
    TG_CHECK(p_.bars.empty() || p_.boxes.empty(), "plot '", p_.title,
             "': a panel has bars or boxes, not both (give each its own panel)");
    for (const BarGroup& g : p_.bars)
      TG_CHECK(g.values.size() == p_.categories.size(), "plot '", p_.title, "': bar group '", g.name, "' has ",
               g.values.size(), " values for ", p_.categories.size(), " categories (one value per category)");
    for (const Series& s : p_.series) {
      TG_CHECK(s.x.size() == s.y.size(), "plot '", p_.title, "': series '", s.name, "' has ", s.x.size(), " x and ",
               s.y.size(), " y values");
      TG_CHECK(s.low.size() == s.high.size() && (s.low.empty() || s.low.size() == s.x.size()), "plot '", p_.title,
               "': series '", s.name, "' has a band of ", s.low.size(), " low and ", s.high.size(),
               " high values for ", s.x.size(), " points (none, or one of each per point)");
      if (p_.log_x)
        for (double x : s.x)
          TG_CHECK(!(x <= 0), "plot '", p_.title, "': a log x axis needs x > 0, got ", x, " in series '", s.name, "'");
    }
    for (const ScatterGroup& g : p_.scatter) {
      TG_CHECK(g.x.size() == g.y.size(), "plot '", p_.title, "': scatter group '", g.name, "' has ", g.x.size(),
               " x and ", g.y.size(), " y values");
      if (p_.log_x)
        for (double x : g.x) TG_CHECK(!(x <= 0), "plot '", p_.title, "': a log x axis needs x > 0, got ", x);
    }
  }

  void ranges() {
    categorical_ = !p_.categories.empty() || !p_.bars.empty() || !p_.boxes.empty();
    log_x_ = p_.log_x && !categorical_;
    double xa = INFINITY, xb = -INFINITY, ya = INFINITY, yb = -INFINITY;
    bool integers = true;  // every x a whole number (epochs): no ticks between them
    auto see_x = [&](double x) {
      if (std::isfinite(x)) xa = std::min(xa, ax(x)), xb = std::max(xb, ax(x)), integers = integers && x == std::round(x);
    };
    auto see_y = [&](double y) {
      if (std::isfinite(y)) ya = std::min(ya, y), yb = std::max(yb, y);
    };
    for (const Series& s : p_.series) {
      for (size_t i = 0; i < s.x.size(); ++i)
        if (std::isfinite(s.y[i])) see_x(s.x[i]), see_y(s.y[i]);
      for (double v : s.low) see_y(v);
      for (double v : s.high) see_y(v);
    }
    for (const ScatterGroup& g : p_.scatter) {
      for (double x : g.x) see_x(x);
      for (double y : g.y) see_y(y);
    }
    bool from_zero = false;
    for (const BarGroup& g : p_.bars)
      for (double v : g.values) see_y(v), see_y(0), from_zero = true;
    for (const Box& b : p_.boxes)
      for (double v : b.values) see_y(v);

    if (categorical_) {
      const size_t n = std::max(p_.categories.size(), p_.boxes.size());
      xlo_ = -0.5, xhi_ = static_cast<double>(n) - 0.5;
      for (size_t i = 0; i < n; ++i)
        xticks_.push_back({static_cast<double>(i), i < p_.categories.size() ? p_.categories[i] : p_.boxes[i].name});
    } else {
      integers = integers && std::isfinite(xa);
      if (!std::isfinite(xa)) xa = 0, xb = 1;
      xlo_ = xa, xhi_ = xb;
      padded(xlo_, xhi_, log_x_ ? 0.05 : 0);
      xticks_ = log_x_ ? log_ticks(xlo_, xhi_) : linear_ticks(xlo_, xhi_, integers);
    }
    if (!std::isfinite(ya)) ya = 0, yb = 1;
    ylo_ = ya, yhi_ = yb;
    padded(ylo_, yhi_, 0);
    if (from_zero && ya >= 0) ylo_ = 0;  // bars of non-negative values stand on the x axis
    if (from_zero && yb <= 0) yhi_ = 0;
    yticks_ = linear_ticks(ylo_, yhi_);
  }

  void layout(double x0, double y0, double w, double h) {
    double tick_w = 0;
    for (const Tick& t : yticks_) tick_w = std::max(tick_w, text_width(t.label, kTick));
    title_ = fit_title(p_.title, kTitle, w - 16);
    const double title_h = p_.title.empty() ? 0 : title_.height() + 8;
    const double ylabel_w = p_.y_label.empty() ? 0 : 9 * kLabel + 6;
    const double xlabel_h = p_.x_label.empty() ? 0 : 9 * kLabel + 4;
    left_ = std::round(x0 + 8 + ylabel_w + tick_w + 4 + 4);
    top_ = std::round(y0 + 8 + title_h);
    width_ = std::max(10.0, std::round(x0 + w - 16 - left_));
    height_ = std::max(10.0, std::round(y0 + h - 8 - (4 + 4 + 9 * kTick + 2) - xlabel_h - top_));
    title_top_ = y0 + 8;
    ylabel_x_ = x0 + 8 + kCap * kLabel;
    xlabel_base_ = top_ + height_ + 4 + 4 + 9 * kTick + 4 + kCap * kLabel;
  }

  // Bands, bars, boxes, scatter, then lines and markers on top.
  void data() {
    size_t colour = 0;
    std::vector<Rgb> series_colour;
    for (size_t k = 0; k < p_.series.size(); ++k) series_colour.push_back(palette(colour++));
    for (size_t k = 0; k < p_.series.size(); ++k) {
      const Series& s = p_.series[k];
      for (const Run& poly : band_polygons(s)) {
        s_.polygon(poly, series_colour[k], kBandOpacity, "band");
        occupy_area(poly);
      }
      if (!s.name.empty() && !line_runs(s).empty())  // a series without a point has no entry
        entries_.push_back({s.name, series_colour[k], s.line, s.markers, !s.low.empty(), kBandOpacity});
    }
    bars(colour);
    boxes();
    for (const ScatterGroup& g : p_.scatter) {
      const Rgb c = palette(colour++);
      Run pts;
      for (size_t i = 0; i < g.x.size(); ++i)
        if (std::isfinite(g.x[i]) && std::isfinite(g.y[i])) pts.push_back({X(ax(g.x[i])), Y(g.y[i])});
      s_.dots(pts, kScatter, c, 0.8, "scatter");
      for (Pt q : pts) occupied_.push_back(q);
      if (!g.name.empty()) entries_.push_back({g.name, c, false, true, false});
    }
    for (size_t k = 0; k < p_.series.size(); ++k) {
      const Series& s = p_.series[k];
      const std::vector<Run> lines = line_runs(s);
      if (s.line) s_.path(lines, series_colour[k], kLine, "series");
      Run points;
      for (const Run& run : lines) {
        points.insert(points.end(), run.begin(), run.end());
        for (size_t i = 0; i + 1 < run.size() && s.line; ++i) occupy_segment(run[i], run[i + 1]);
      }
      if (s.markers) s_.dots(points, kMarker, series_colour[k], 1, "markers");
      occupied_.insert(occupied_.end(), points.begin(), points.end());
    }
  }

  // The maximal runs of consecutive points with finite x and y.
  std::vector<Run> line_runs(const Series& s) const {
    std::vector<Run> out;
    bool open = false;
    for (size_t i = 0; i < s.x.size(); ++i) {
      open = open && std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      if (!open) out.emplace_back(), open = true;
      out.back().push_back({X(ax(s.x[i])), Y(s.y[i])});
    }
    return out;
  }
  // A polygon per run of points with finite x, low and high: along high, then back along low.
  std::vector<Run> band_polygons(const Series& s) const {
    std::vector<Run> out;
    Run high, low;
    auto close = [&] {
      if (!high.empty()) out.push_back(high), out.back().insert(out.back().end(), low.rbegin(), low.rend());
      high.clear(), low.clear();
    };
    for (size_t i = 0; i < s.low.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.low[i]) || !std::isfinite(s.high[i])) {
        close();
        continue;
      }
      high.push_back({X(ax(s.x[i])), Y(s.high[i])});
      low.push_back({X(ax(s.x[i])), Y(s.low[i])});
    }
    close();
    return out;
  }

  void bars(size_t& colour) {
    const double group = 0.8, bw = group / static_cast<double>(std::max<size_t>(1, p_.bars.size()));
    const double base = Y(std::clamp(0.0, ylo_, yhi_));
    for (size_t j = 0; j < p_.bars.size(); ++j) {
      const Rgb c = palette(colour++);
      for (size_t i = 0; i < p_.bars[j].values.size(); ++i) {
        const double v = p_.bars[j].values[i];
        if (!std::isfinite(v)) continue;
        const double from = static_cast<double>(i) - group / 2 + static_cast<double>(j) * bw;
        const double xa = X(from), xb = X(from + bw);
        const double ya = std::min(base, Y(v)), yb = std::max(base, Y(v));
        s_.rect(xa, ya, xb - xa, yb - ya, c, 1, "bar");
        occupy_area({{xa, ya}, {xb, ya}, {xb, yb}, {xa, yb}});
      }
      if (!p_.bars[j].name.empty()) entries_.push_back({p_.bars[j].name, c, false, false, true});
    }
  }

  void boxes() {
    const double half = X(0.25) - X(0), cap = X(0.12) - X(0);
    for (size_t i = 0; i < p_.boxes.size(); ++i) {
      if (std::none_of(p_.boxes[i].values.begin(), p_.boxes[i].values.end(), [](double v) { return std::isfinite(v); }))
        continue;
      const BoxStats st = box_stats(p_.boxes[i].values);
      const Rgb c = palette(i);
      const double cx = X(static_cast<double>(i));
      s_.segment({cx, Y(st.high)}, {cx, Y(st.q3)}, c, 1, "whisker");
      s_.segment({cx, Y(st.q1)}, {cx, Y(st.low)}, c, 1, "whisker");
      s_.segment({cx - cap, Y(st.high)}, {cx + cap, Y(st.high)}, c, 1, "whisker");
      s_.segment({cx - cap, Y(st.low)}, {cx + cap, Y(st.low)}, c, 1, "whisker");
      const Run box = {{cx - half, Y(st.q3)}, {cx + half, Y(st.q3)}, {cx + half, Y(st.q1)}, {cx - half, Y(st.q1)}};
      s_.polygon(box, c, kBoxOpacity, "box");
      s_.path({{box[0], box[1], box[2], box[3], box[0]}}, c, 1, "box");
      s_.segment({cx - half, Y(st.median)}, {cx + half, Y(st.median)}, kBlack, 2, "median");
      const double d = 3.5, m = Y(st.mean);
      s_.polygon({{cx, m - d}, {cx + d, m}, {cx, m + d}, {cx - d, m}}, kBlack, 1, "mean");
      s_.polygon({{cx, m - d + 1.4}, {cx + d - 1.4, m}, {cx, m + d - 1.4}, {cx - d + 1.4, m}}, kWhite, 1, "mean");
      Run outliers;
      for (double v : st.outliers) outliers.push_back({cx, Y(v)});
      s_.dots(outliers, 2, c, 1, "outliers");
      occupy_area({{cx - half, Y(st.high)}, {cx + half, Y(st.high)}, {cx + half, Y(st.low)}, {cx - half, Y(st.low)}});
      occupied_.insert(occupied_.end(), outliers.begin(), outliers.end());
    }
  }

  void frame() {
    const double bottom = top_ + height_;
    s_.segment({left_, top_}, {left_, bottom}, kAxis, 1, "axis");
    s_.segment({left_, bottom}, {left_ + width_, bottom}, kAxis, 1, "axis");
    for (const Tick& t : yticks_) {
      s_.segment({left_ - 4, Y(t.at)}, {left_, Y(t.at)}, kAxis, 1, "tick");
      s_.text(t.label, left_ - 6, Y(t.at) + kCap * kTick / 2, kTick, Anchor::end, kAxis);
    }
    double last_right = -1e9;
    for (const Tick& t : xticks_) {
      const double x = X(t.at);
      s_.segment({x, bottom}, {x, bottom + (t.major ? 4 : 2)}, kAxis, 1, "tick");
      const double tw = text_width(t.label, kTick);
      if (t.label.empty() || x - tw / 2 < last_right + 4) continue;  // a label that would overlap is left out
      s_.text(t.label, x, bottom + 8 + kCap * kTick, kTick, Anchor::middle, kAxis);
      last_right = x + tw / 2;
    }
    s_.text(p_.x_label, left_ + width_ / 2, xlabel_base_, kLabel, Anchor::middle, kBlack);
    s_.text(p_.y_label, ylabel_x_, top_ + height_ / 2, kLabel, Anchor::middle, kBlack, true);
  }

  // The legend goes to the candidate spot inside the plot area that covers the least data.
  void legend() {
    if (entries_.empty()) return;
    constexpr double row = 11, swatch = 18, pad = 5;
    double text_w = 0;
    for (const LegendEntry& e : entries_) text_w = std::max(text_w, text_width(e.name, kTick));
    legend_w_ = pad + swatch + pad + text_w + pad;
    legend_h_ = pad + row * static_cast<double>(entries_.size()) + pad - 2;
    const double m = 6, l = left_ + m, r = left_ + width_ - m - legend_w_, c = left_ + (width_ - legend_w_) / 2;
    const double t = top_ + m, b = top_ + height_ - m - legend_h_, mid = top_ + (height_ - legend_h_) / 2;
    const Pt spots[] = {{r, t}, {l, t}, {r, b}, {l, b}, {c, t}, {c, b}, {r, mid}, {l, mid}};
    double best = INFINITY;
    for (Pt spot : spots) {
      double covered = 0;
      for (Pt q : occupied_)
        covered += q.x >= spot.x - 2 && q.x <= spot.x + legend_w_ + 2 && q.y >= spot.y - 2 && q.y <= spot.y + legend_h_ + 2;
      if (covered < best) best = covered, legend_ = spot;
    }
    s_.rect(legend_.x, legend_.y, legend_w_, legend_h_, kWhite, 0.9, "legend");
    const Pt lt = legend_, rt{lt.x + legend_w_, lt.y}, rb{rt.x, lt.y + legend_h_}, lb{lt.x, rb.y};
    s_.path({{lt, rt, rb, lb, lt}}, kFrame, 0.5, "legend");
    for (size_t i = 0; i < entries_.size(); ++i) {
      const LegendEntry& e = entries_[i];
      const double y = legend_.y + pad + row * static_cast<double>(i) + kCap / 2, x = legend_.x + pad;
      if (e.patch) s_.rect(x + 2, y - 4, swatch - 4, 8, e.c, e.line || e.marker ? e.patch_opacity : 1, "legend");
      if (e.line) s_.segment({x, y}, {x + swatch, y}, e.c, kLine, "legend");
      if (e.marker) s_.dots({{x + swatch / 2, y}}, e.line ? kMarker : kScatter + 0.6, e.c, 1, "legend");
      s_.text(e.name, x + swatch + pad, y + kCap * kTick / 2, kTick, Anchor::start, kBlack);
    }
  }

  // What the legend should not cover: points along lines, a grid over areas.
  void occupy_segment(Pt a, Pt b) {
    const int n = 1 + static_cast<int>(std::hypot(b.x - a.x, b.y - a.y) / 2);
    for (int i = 0; i <= n; ++i) occupied_.push_back({a.x + (b.x - a.x) * i / n, a.y + (b.y - a.y) * i / n});
  }
  void occupy_area(const Run& poly) {
    double xa = INFINITY, xb = -INFINITY, ya = INFINITY, yb = -INFINITY;
    for (Pt q : poly) xa = std::min(xa, q.x), xb = std::max(xb, q.x), ya = std::min(ya, q.y), yb = std::max(yb, q.y);
    for (double y = ya; y <= yb; y += 4)
      for (double x = xa; x <= xb; x += 4) {
        bool inside = false;  // even-odd rule
        for (size_t i = 0, j = poly.size() - 1; i < poly.size(); j = i++)
          if ((poly[i].y > y) != (poly[j].y > y) &&
              x < poly[i].x + (y - poly[i].y) / (poly[j].y - poly[i].y) * (poly[j].x - poly[i].x))
            inside = !inside;
        if (inside) occupied_.push_back({x, y});
      }
  }

  Surface& s_;
  const Panel& p_;
  bool categorical_ = false, log_x_ = false;
  double xlo_ = 0, xhi_ = 1, ylo_ = 0, yhi_ = 1;  // the axis ranges (x in axis coordinates)
  std::vector<Tick> xticks_, yticks_;
  double left_ = 0, top_ = 0, width_ = 0, height_ = 0, title_top_ = 0, ylabel_x_ = 0, xlabel_base_ = 0;
  Title title_{{}, kTitle};
  std::vector<LegendEntry> entries_;
  Run occupied_;
  Pt legend_{0, 0};
  double legend_w_ = 0, legend_h_ = 0;
};

struct FigureSize {
  double width, height, title_h;
  Title title;
};
FigureSize figure_size(const Figure& f) {
  TG_CHECK(!f.panels.empty() && f.columns >= 1 && f.panel_width >= 120 && f.panel_height >= 100 && f.scale >= 1,
           "plot '", f.title, "': ", f.panels.size(), " panels, ", f.columns, " columns, panels of ", f.panel_width,
           "x", f.panel_height, ", scale ", f.scale, " (at least 1 panel, 1 column, 120x100, scale 1)");
  const int columns = std::min(f.columns, static_cast<int>(f.panels.size()));
  const int rows = (static_cast<int>(f.panels.size()) + columns - 1) / columns;
  const double width = columns * f.panel_width;
  const Title title = fit_title(f.title, kFigureTitle, width - 16);
  const double title_h = f.title.empty() ? 0 : title.height() + 12;
  return {width, title_h + rows * f.panel_height, title_h, title};
}

void draw_figure(Surface& s, const Figure& f, double scale, std::vector<Axes>* axes) {
  const FigureSize size = figure_size(f);
  const int columns = std::min(f.columns, static_cast<int>(f.panels.size()));
  size.title.draw(s, size.width / 2, 8);
  if (axes) axes->clear();
  for (size_t i = 0; i < f.panels.size(); ++i) {
    PanelPainter painter(s, f.panels[i], static_cast<double>(static_cast<int>(i) % columns * f.panel_width),
                         size.title_h + static_cast<int>(i) / columns * f.panel_height, f.panel_width, f.panel_height);
    painter.draw();
    if (axes) axes->push_back(painter.axes(scale));
  }
}

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

}  // namespace

double Axes::px(double x) const { return left + ((log_x ? std::log10(x) : x) - x_lo) / (x_hi - x_lo) * width; }
double Axes::py(double y) const { return top + height - (y - y_lo) / (y_hi - y_lo) * height; }

Image render_figure(const Figure& figure, std::vector<Axes>* axes) {
  const FigureSize size = figure_size(figure);
  return rasterize(static_cast<int>(size.width) * figure.scale, static_cast<int>(size.height) * figure.scale,
                   figure.scale, [&](Surface& s) { draw_figure(s, figure, figure.scale, axes); });
}

std::string figure_svg(const Figure& figure) {
  const FigureSize size = figure_size(figure);
  return svg_document(size.width, size.height, [&](Surface& s) { draw_figure(s, figure, 1, nullptr); });
}

std::string encode_png(const Image& image) {
  std::string out;
  const int ok = stbi_write_png_to_func(append_bytes, &out, image.width, image.height, 3, image.rgb.data(),
                                        image.width * 3);
  TG_CHECK(ok && !out.empty(), "encode_png: stb_image_write failed on a ", image.width, "x", image.height, " image");
  return out;
}

void write_figure(const std::string& stem, const Figure& figure) {
  write_file_atomic(stem + ".png", encode_png(render_figure(figure)));
  write_file_atomic(stem + ".svg", figure_svg(figure));
}

Image render_plot(const std::vector<Panel>& panels, int columns, int panel_width, int panel_height) {
  return render_figure(Figure{"", panels, columns, panel_width, panel_height, 1});
}

void write_plot_png(const std::string& path, const std::vector<Panel>& panels, int columns, int panel_width,
                    int panel_height) {
  write_file_atomic(path, encode_png(render_plot(panels, columns, panel_width, panel_height)));
}

}  // namespace tg::runner
