#include "experiments/runner/plot.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "experiments/runner/results.h"
#include "tensor/error.h"

namespace tg::runner {

namespace {

// ---- the 5x7 font: 7 rows a glyph, bit 4 the leftmost column ----
struct Glyph {
  char c;
  uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}}, {'&', {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}}, {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}}, {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}},
};

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kBlack{0, 0, 0}, kGrid{225, 225, 225}, kAxis{60, 60, 60};
constexpr Rgb kPalette[] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {255, 127, 14}, {148, 103, 189}, {140, 86, 75}};

const Glyph* glyph(char c) {
  c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const Glyph& g : kFont)
    if (g.c == c) return &g;
  return nullptr;  // space and unknown characters draw nothing
}

class Canvas {
 public:
  explicit Canvas(Image& img) : img_(img) {}
  void pixel(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= img_.width || y >= img_.height) return;
    uint8_t* p = &img_.rgb[(static_cast<size_t>(y) * static_cast<size_t>(img_.width) + static_cast<size_t>(x)) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void rect(int x0, int y0, int w, int h, Rgb c) {
    for (int y = y0; y < y0 + h; ++y)
      for (int x = x0; x < x0 + w; ++x) pixel(x, y, c);
  }
  // Bresenham, `thick` pixels wide.
  void line(int x0, int y0, int x1, int y1, Rgb c, int thick = 1) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (int err = dx + dy;;) {
      rect(x0 - thick / 2, y0 - thick / 2, thick, thick, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  static int text_width(const std::string& s, int scale) { return static_cast<int>(s.size()) * 6 * scale - scale; }
  // Text with its top-left corner at (x, y); `vertical` draws it rotated a quarter turn (bottom to top).
  void text(const std::string& s, int x, int y, Rgb c, int scale = 1, bool vertical = false) {
    for (size_t i = 0; i < s.size(); ++i) {
      const Glyph* g = glyph(s[i]);
      if (!g) continue;
      const int off = static_cast<int>(i) * 6 * scale;
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col) {
          if (!(g->rows[r] >> (4 - col) & 1)) continue;
          if (vertical)
            rect(x + r * scale, y - off - (col + 1) * scale, scale, scale, c);
          else
            rect(x + off + col * scale, y + r * scale, scale, scale, c);
        }
    }
  }

 private:
  Image& img_;
};

std::string tick_text(double v) {
  char buf[32];
  if (std::abs(v) < 1e-12) v = 0;
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Round ticks (1, 2, 5 x 10^k) covering [lo, hi]; lo and hi are widened to the outer ticks.
std::vector<double> nice_ticks(double& lo, double& hi) {
  if (!(hi > lo)) lo -= 1, hi += 1;
  const double raw = (hi - lo) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> t;
  for (double v = lo; v <= hi + step * 1e-6; v += step) t.push_back(v);
  return t;
}

void draw_panel(Canvas& cv, const Panel& p, int x0, int y0, int w, int h) {
  const int left = 58, right = 14, top = 30, bottom = 38;
  const int px = x0 + left, py = y0 + top, pw = w - left - right, ph = h - top - bottom;
  cv.text(p.title, x0 + (w - Canvas::text_width(p.title, 2)) / 2, y0 + 6, kBlack, 2);

  // Data ranges over the finite points.
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  std::vector<double> xs;
  for (const auto& s : p.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      TG_CHECK(!p.log_x || s.x[i] > 0, "plot '", p.title, "': a log x axis needs x > 0, got ", s.x[i]);
      xlo = std::min(xlo, s.x[i]), xhi = std::max(xhi, s.x[i]);
      xs.push_back(s.x[i]);
      if (std::isfinite(s.y[i])) ylo = std::min(ylo, s.y[i]), yhi = std::max(yhi, s.y[i]);
    }
  if (xs.empty()) xlo = p.log_x ? 1 : 0, xhi = p.log_x ? 10 : 1;
  if (!std::isfinite(ylo)) ylo = 0, yhi = 1;
  auto fx = [&](double v) { return p.log_x ? std::log10(v) : v; };
  std::vector<double> xticks;
  double ax = fx(xlo), bx = fx(xhi);
  if (p.log_x) {
    std::sort(xs.begin(), xs.end());
    xs.erase(std::unique(xs.begin(), xs.end()), xs.end());
    xticks = xs;
    const double pad = std::max(0.05 * (bx - ax), 0.1);
    ax -= pad, bx += pad;
  } else {
    xticks = nice_ticks(ax, bx);
  }
  std::vector<double> yticks = nice_ticks(ylo, yhi);
  auto X = [&](double v) { return px + static_cast<int>(std::lround((fx(v) - ax) / (bx - ax) * (pw - 1))); };
  auto Y = [&](double v) { return py + ph - 1 - static_cast<int>(std::lround((v - ylo) / (yhi - ylo) * (ph - 1))); };

  // Grid, ticks and labels; a label that would overlap the previous one is left out.
  for (double t : yticks) {
    const int y = Y(t);
    cv.line(px, y, px + pw - 1, y, kGrid);
    const std::string s = tick_text(t);
    cv.text(s, px - 6 - Canvas::text_width(s, 1), y - 3, kAxis);
  }
  int last_right = -1000;
  for (double t : xticks) {
    const int x = X(t);
    cv.line(x, py, x, py + ph - 1, kGrid);
    const std::string s = tick_text(t);
    const int tw = Canvas::text_width(s, 1), tx = x - tw / 2;
    if (tx > last_right + 4) {
      cv.line(x, py + ph, x, py + ph + 3, kAxis);
      cv.text(s, tx, py + ph + 6, kAxis);
      last_right = tx + tw;
    }
  }
  cv.line(px, py, px, py + ph - 1, kAxis);
  cv.line(px, py + ph - 1, px + pw - 1, py + ph - 1, kAxis);
  const std::string xl = p.x_label + (p.log_x ? " (log)" : "");
  cv.text(xl, px + (pw - Canvas::text_width(xl, 1)) / 2, py + ph + 20, kBlack);
  cv.text(p.y_label, x0 + 4, py + (ph + Canvas::text_width(p.y_label, 1)) / 2, kBlack, 1, true);

  // Series: lines between consecutive finite points, a 5x5 marker at each.
  for (size_t k = 0; k < p.series.size(); ++k) {
    const Series& s = p.series[k];
    const Rgb c = kPalette[k % std::size(kPalette)];
    bool have_prev = false;
    int prev_x = 0, prev_y = 0;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        have_prev = false;
        continue;
      }
      const int x = X(s.x[i]), y = Y(s.y[i]);
      if (have_prev) cv.line(prev_x, prev_y, x, y, c, 2);
      cv.rect(x - 2, y - 2, 5, 5, c);
      have_prev = true, prev_x = x, prev_y = y;
    }
    if (p.series.size() > 1) {  // legend, top right inside the plot
      const int ly = py + 4 + static_cast<int>(k) * 11, lx = px + pw - 8 - Canvas::text_width(s.name, 1) - 16;
      cv.line(lx, ly + 3, lx + 10, ly + 3, c, 2);
      cv.text(s.name, lx + 14, ly, kBlack);
    }
  }
}

void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<size_t>(size));
}

}  // namespace

Image render_plot(const std::vector<Panel>& panels, int columns, int panel_width, int panel_height) {
  TG_CHECK(!panels.empty() && columns >= 1 && panel_width >= 120 && panel_height >= 100,
           "render_plot: ", panels.size(), " panels, ", columns, " columns, panels of ", panel_width, "x", panel_height,
           " (at least 1 panel, 1 column, 120x100)");
  columns = std::min(columns, static_cast<int>(panels.size()));
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  Image img;
  img.width = columns * panel_width;
  img.height = rows * panel_height;
  img.rgb.assign(static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3, 255);
  Canvas cv(img);
  for (size_t i = 0; i < panels.size(); ++i)
    draw_panel(cv, panels[i], static_cast<int>(i) % columns * panel_width, static_cast<int>(i) / columns * panel_height,
               panel_width, panel_height);
  return img;
}

std::string encode_png(const Image& image) {
  std::string out;
  const int ok = stbi_write_png_to_func(append_bytes, &out, image.width, image.height, 3, image.rgb.data(),
                                        image.width * 3);
  TG_CHECK(ok && !out.empty(), "encode_png: stb_image_write failed on a ", image.width, "x", image.height, " image");
  return out;
}

void write_plot_png(const std::string& path, const std::vector<Panel>& panels, int columns, int panel_width,
                    int panel_height) {
  write_file_atomic(path, encode_png(render_plot(panels, columns, panel_width, panel_height)));
}

}  // namespace tg::runner
