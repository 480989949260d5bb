// The two drawing surfaces of the figures (plot.h): an RGB raster, with text in an embedded 5x9 bitmap
// font (lower case and the Greek letters of the study), and an SVG document with real paths and <text>.
// Both take coordinates in units with the y axis pointing down: plot.cpp lays a figure out once and
// draws it onto each.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "experiments/runner/plot.h"

namespace tg::runner::draw {

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kBlack{0, 0, 0}, kWhite{255, 255, 255}, kGrid{230, 230, 230}, kAxis{70, 70, 70}, kFrame{190, 190, 190};
// Colour i of Okabe & Ito's colour-blind-safe palette, then two more (ten in all), cycling.
Rgb palette(size_t i);

struct Pt {
  double x, y;
};
using Run = std::vector<Pt>;  // an open polyline
enum class Anchor { start, middle, end };

constexpr double kCap = 7;  // glyph height above the baseline, in glyph dots (a dot is `size` units)
// Width of a text in units at `size` (1 = 5x9 glyph dots of one unit).
double text_width(const std::string& s, double size);

class Surface {
 public:
  virtual ~Surface() = default;
  virtual void clip(double x, double y, double w, double h) = 0;  // until unclip(): draw only inside
  virtual void unclip() = 0;
  // Open polylines `width` units wide; `cls` names the element in SVG (class="series" for a data line).
  virtual void path(const std::vector<Run>& runs, Rgb c, double width, const char* cls) = 0;
  virtual void polygon(const Run& pts, Rgb c, double opacity, const char* cls) = 0;  // filled
  virtual void dots(const Run& centres, double radius, Rgb c, double opacity, const char* cls) = 0;
  // Text with its baseline through y; `vertical` turns it a quarter turn to read bottom to top, and
  // then x is the baseline and y the anchor.
  virtual void text(const std::string& s, double x, double y, double size, Anchor a, Rgb c, bool vertical = false) = 0;

  void segment(Pt a, Pt b, Rgb c, double width, const char* cls) { path({{a, b}}, c, width, cls); }
  void rect(double x, double y, double w, double h, Rgb c, double opacity, const char* cls) {
    polygon({{x, y}, {x + w, y}, {x + w, y + h}, {x, y + h}}, c, opacity, cls);
  }
};

// The picture `draw` makes, as pixels: width x height pixels, white first, `scale` pixels a unit.
Image rasterize(int width, int height, double scale, const std::function<void(Surface&)>& draw);
// The same as an SVG document of width x height units.
std::string svg_document(double width, double height, const std::function<void(Surface&)>& draw);

}  // namespace tg::runner::draw
