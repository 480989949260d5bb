// Figures for the experiment binaries and the paper's plots (DESIGN.md §7: tables come with *.png plots),
// with no plotting library. A Figure is a title over a grid of panels; a panel holds lines with optional
// shaded bands, scatter groups, grouped bars or box plots, on a linear or logarithmic x axis. It is laid
// out once in units (1 unit = 1 SVG user unit) and drawn twice: into an RGB raster (`scale` pixels a unit,
// text in an embedded 5x9 bitmap font with lower case and the Greek letters τ ε μ σ), encoded as PNG by
// stb_image_write, and into an SVG with real paths and <text>. Linear axes get 1-2-5 ticks, log axes
// labelled decades with minor ticks at 2..9; colours are the Okabe-Ito palette (colour-blind safe), then
// two more for ten groups; the legend goes to the corner of the plot area where it covers the least data.
// Text is UTF-8. The layout is plot.cpp's; the two surfaces it draws onto are surface.{h,cpp}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tg::runner {

// The {} initialisers let callers name only the fields they set (no -Wmissing-field-initializers).
struct Series {  // a line (and/or markers) in a panel; a legend entry when named
  std::string name{};
  std::vector<double> x{}, y{};       // NaN y breaks the line
  std::vector<double> low{}, high{};  // optional shaded band (e.g. min-max over seeds), same length as x
  bool line = true, markers = true;
};
struct ScatterGroup {  // one colour per group (t-SNE)
  std::string name{};
  std::vector<double> x{}, y{};
};
struct BarGroup {  // grouped bars: one value per category
  std::string name{};
  std::vector<double> values{};
};
struct Box {  // a box plot of values: quartiles, whiskers at 1.5 IQR, outliers as dots, median as a line,
              // mean as a marker
  std::string name{};
  std::vector<double> values{};
};

struct Panel {
  std::string title{}, x_label{}, y_label{};
  std::vector<Series> series{};
  bool log_x = false;                     // x values must then be > 0
  std::vector<ScatterGroup> scatter{};
  std::vector<std::string> categories{};  // bars: one tick per category on x
  std::vector<BarGroup> bars{};
  std::vector<Box> boxes{};               // one box per entry, along x
};

struct Figure {
  std::string title{};  // over all panels
  std::vector<Panel> panels{};
  int columns = 1, panel_width = 420, panel_height = 300;  // in units
  int scale = 2;                                           // PNG pixels a unit
};

// Writes <stem>.png and <stem>.svg, atomically.
void write_figure(const std::string& stem, const Figure& figure);

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel
};

// Where a panel landed in a rendered image, in pixels: its plot area, the data range it shows, and its
// legend box (zero size when it has none). px/py map data to continuous pixel coordinates.
struct Axes {
  double left = 0, top = 0, width = 0, height = 0;
  double x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;  // for a log axis, x_lo/x_hi are log10 of the range
  bool log_x = false;
  double legend_left = 0, legend_top = 0, legend_width = 0, legend_height = 0;
  double px(double x) const;
  double py(double y) const;
};

// The figure as pixels (and, when `axes` is given, each panel's Axes) and as SVG text.
Image render_figure(const Figure& figure, std::vector<Axes>* axes = nullptr);
std::string figure_svg(const Figure& figure);

// PNG bytes of an image.
std::string encode_png(const Image& image);

// The older interface (the table sweeps' table.png): the panels at one pixel a unit, no figure title.
Image render_plot(const std::vector<Panel>& panels, int columns = 1, int panel_width = 420, int panel_height = 300);
void write_plot_png(const std::string& path, const std::vector<Panel>& panels, int columns = 1, int panel_width = 420,
                    int panel_height = 300);

}  // namespace tg::runner
