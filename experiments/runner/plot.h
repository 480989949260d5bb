// PNG line plots for the experiment binaries (DESIGN.md §7: tables come with *.png plots), with no
// plotting library: an RGB canvas, lines and markers, axes with tick labels, and text in an embedded
// 5x7 bitmap font (digits, A-Z (lower case is drawn as upper case), space and . - % / ( ) , & = + : _ < >).
// A figure is a grid of panels, each with its own title, axes and series; a series is a line through
// its (x, y) points with a marker at each, broken where y is NaN (a diverged run). The x axis can be
// logarithmic (tau spans 0.1..100): its ticks are then the data's x values. Files go through
// stb_image_write (compiled into the library by data/tiny_imagenet.cpp) and are written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tg::runner {

struct Series {
  std::string name;  // the legend's text (no legend when a panel has one series)
  std::vector<double> x, y;
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_x = false;  // x values must then be > 0
};

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes a pixel
};

// The panels on a grid of `columns` columns (rows as needed), each panel_width x panel_height pixels.
Image render_plot(const std::vector<Panel>& panels, int columns = 1, int panel_width = 420, int panel_height = 300);
// PNG bytes of an image.
std::string encode_png(const Image& image);
// render_plot, encoded, written atomically to `path`.
void write_plot_png(const std::string& path, const std::vector<Panel>& panels, int columns = 1, int panel_width = 420,
                    int panel_height = 300);

}  // namespace tg::runner
