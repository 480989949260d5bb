// The raster and SVG surfaces (surface.h).
#include "experiments/runner/surface.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace tg::runner::draw {

namespace {

// ---- the 5x9 font: rows 0-6 the capital height, 7-8 the descenders; bit 4 is the leftmost column ----
struct Glyph {
  char32_t c;
  uint8_t rows[9];
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
    {'a', {0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},       {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E}},       {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'e', {0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},       {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'g', {0, 0, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E}},    {'j', {0x02, 0, 0x06, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}}, {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0, 0, 0x1A, 0x15, 0x15, 0x15, 0x15}},       {'n', {0, 0, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E}},       {'p', {0, 0, 0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0, 0, 0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01}}, {'r', {0, 0, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0, 0, 0x0F, 0x10, 0x0E, 0x01, 0x1E}},       {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D}},       {'v', {0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'w', {0, 0, 0x11, 0x11, 0x15, 0x15, 0x0A}},       {'x', {0, 0, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0, 0, 0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}}, {'z', {0, 0, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
    {U'τ', {0, 0, 0x1F, 0x04, 0x04, 0x04, 0x06}},      {U'ε', {0, 0, 0x0F, 0x10, 0x0E, 0x10, 0x0F}},
    {U'μ', {0, 0, 0x11, 0x11, 0x11, 0x13, 0x1D, 0x10, 0x10}}, {U'σ', {0, 0, 0x0F, 0x12, 0x11, 0x11, 0x0E}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},                {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'/', {0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}}, {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}}, {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}},
    {',', {0, 0, 0, 0, 0, 0x0C, 0x04, 0x08}},          {'&', {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}},
    {'=', {0, 0, 0x1F, 0, 0x1F, 0, 0}},                {'+', {0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}},
    {':', {0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}},          {';', {0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08}},
    {'_', {0, 0, 0, 0, 0, 0, 0, 0x1F}},                {'<', {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}},
    {'>', {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}}, {'!', {0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}},    {'*', {0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0}},
    {'\'', {0x04, 0x04, 0x08, 0, 0, 0, 0}},            {'"', {0x0A, 0x0A, 0, 0, 0, 0, 0}},
    {'|', {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}}, {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'^', {0x04, 0x0A, 0x11, 0, 0, 0, 0}},             {'~', {0, 0, 0x08, 0x15, 0x02, 0, 0}},
    {U'±', {0x04, 0x04, 0x1F, 0x04, 0x04, 0, 0x1F}},   {U'×', {0, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0}},
};
constexpr double kAdvance = 6;  // pen advance, in glyph dots

const Glyph* glyph(char32_t c) {
  for (const Glyph& g : kFont)
    if (g.c == c) return &g;
  return nullptr;  // space and characters without a glyph draw nothing
}

std::u32string decode_utf8(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int extra = b < 0x80 ? 0 : b >> 5 == 6 ? 1 : b >> 4 == 14 ? 2 : b >> 3 == 30 ? 3 : -1;
    if (extra < 0 || i + static_cast<size_t>(extra) >= s.size() + (extra == 0)) {
      out.push_back(U'?'), ++i;
      continue;
    }
    char32_t c = extra == 0 ? b : b & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) c = c << 6 | (static_cast<unsigned char>(s[i + static_cast<size_t>(k)]) & 0x3F);
    out.push_back(c);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

// Okabe & Ito (2008), "Color Universal Design": distinguishable with the common colour-vision deficiencies;
// then Paul Tol's wine and grey, so that ten classes (a t-SNE of CIFAR-10) get ten colours.
constexpr Rgb kPalette[] = {{0, 114, 178},  {213, 94, 0},    {0, 158, 115}, {204, 121, 167},
                            {230, 159, 0},  {86, 180, 233},  {0, 0, 0},     {240, 228, 66},
                            {136, 34, 85},  {119, 119, 119}};

class Raster final : public Surface {
 public:
  Raster(Image& img, double scale) : img_(img), k_(scale) { unclip(); }
  void clip(double x, double y, double w, double h) override {
    cx0_ = std::max(0.0, x * k_), cy0_ = std::max(0.0, y * k_);
    cx1_ = std::min<double>(img_.width, (x + w) * k_), cy1_ = std::min<double>(img_.height, (y + h) * k_);
  }
  void unclip() override { cx0_ = 0, cy0_ = 0, cx1_ = img_.width, cy1_ = img_.height; }

  void path(const std::vector<Run>& runs, Rgb c, double width, const char*) override {
    const double w = std::max(1.0, width * k_);
    for (const Run& run : runs) {
      if (run.size() == 1) capsule(scaled(run[0]), scaled(run[0]), w / 2, c);
      for (size_t i = 0; i + 1 < run.size(); ++i) {
        const Pt a = scaled(run[i]), b = scaled(run[i + 1]);
        if (a.x == b.x || a.y == b.y) {  // axis-aligned: a crisp rectangle, exactly w pixels across
          const double xa = std::min(a.x, b.x) - w / 2, xb = std::max(a.x, b.x) + w / 2;
          const double ya = std::min(a.y, b.y) - w / 2, yb = std::max(a.y, b.y) + w / 2;
          fill({{xa, ya}, {xb, ya}, {xb, yb}, {xa, yb}}, c, 1);
        } else {
          capsule(a, b, w / 2, c);
        }
      }
    }
  }
  void polygon(const Run& pts, Rgb c, double opacity, const char*) override {
    Run p;
    for (Pt q : pts) p.push_back(scaled(q));
    fill(p, c, opacity);
  }
  void dots(const Run& centres, double radius, Rgb c, double opacity, const char*) override {
    const double r = std::max(0.75, radius * k_);
    for (Pt q : centres) {
      const Pt p = scaled(q);
      for (int y = static_cast<int>(std::floor(p.y - r)); y <= static_cast<int>(p.y + r); ++y)
        for (int x = static_cast<int>(std::floor(p.x - r)); x <= static_cast<int>(p.x + r); ++x)
          if (std::hypot(x + 0.5 - p.x, y + 0.5 - p.y) <= r) blend(x, y, c, opacity);
    }
  }
  void text(const std::string& s, double x, double y, double size, Anchor a, Rgb c, bool vertical) override {
    const std::u32string cs = decode_utf8(s);
    const double g = std::max(1.0, std::round(size * k_));  // pixels a glyph dot
    const double w = cs.empty() ? 0 : (static_cast<double>(cs.size()) * kAdvance - 1) * g;
    const double shift = a == Anchor::start ? 0 : a == Anchor::middle ? w / 2 : w;
    const double bx = std::round(x * k_), by = std::round(y * k_);
    for (size_t i = 0; i < cs.size(); ++i) {
      const Glyph* gl = glyph(cs[i]);
      if (!gl) continue;
      for (int r = 0; r < 9; ++r)
        for (int col = 0; col < 5; ++col) {
          if (!(gl->rows[r] >> (4 - col) & 1)) continue;
          const double along = std::round(static_cast<double>(i) * kAdvance * g - shift) + col * g, across = (r - kCap) * g;
          if (vertical)
            fill_box(bx + across, by - along - g, g, g, c);
          else
            fill_box(bx + along, by + across, g, g, c);
        }
    }
  }

 private:
  Pt scaled(Pt p) const { return {p.x * k_, p.y * k_}; }
  void blend(int x, int y, Rgb c, double a) {
    if (x < cx0_ || y < cy0_ || x + 1 > cx1_ || y + 1 > cy1_) return;
    uint8_t* p = &img_.rgb[(static_cast<size_t>(y) * static_cast<size_t>(img_.width) + static_cast<size_t>(x)) * 3];
    if (a >= 1) {
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
      return;
    }
    const uint8_t v[3] = {c.r, c.g, c.b};
    for (int i = 0; i < 3; ++i) p[i] = static_cast<uint8_t>(std::lround(p[i] * (1 - a) + v[i] * a));
  }
  void fill_box(double x, double y, double w, double h, Rgb c) {
    for (int yy = static_cast<int>(y); yy < static_cast<int>(y + h); ++yy)
      for (int xx = static_cast<int>(x); xx < static_cast<int>(x + w); ++xx) blend(xx, yy, c, 1);
  }
  // Even-odd scanline fill: a pixel is inside when its centre is (half-open on the right).
  void fill(const Run& p, Rgb c, double a) {
    if (p.size() < 3) return;
    double ylo = p[0].y, yhi = p[0].y;
    for (Pt q : p) ylo = std::min(ylo, q.y), yhi = std::max(yhi, q.y);
    std::vector<double> xs;
    for (int y = static_cast<int>(std::floor(ylo)); y <= static_cast<int>(std::ceil(yhi)); ++y) {
      const double yc = y + 0.5;
      xs.clear();
      for (size_t i = 0; i < p.size(); ++i) {
        const Pt u = p[i], v = p[(i + 1) % p.size()];
        if ((u.y <= yc) != (v.y <= yc)) xs.push_back(u.x + (yc - u.y) / (v.y - u.y) * (v.x - u.x));
      }
      std::sort(xs.begin(), xs.end());
      for (size_t i = 0; i + 1 < xs.size(); i += 2)
        for (int x = static_cast<int>(std::ceil(xs[i] - 0.5)); x + 0.5 < xs[i + 1]; ++x) blend(x, y, c, a);
    }
  }
  // The pixels whose centres lie within r of the segment ab.
  void capsule(Pt a, Pt b, double r, Rgb c) {
    const double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
    for (int y = static_cast<int>(std::floor(std::min(a.y, b.y) - r)); y <= static_cast<int>(std::max(a.y, b.y) + r); ++y)
      for (int x = static_cast<int>(std::floor(std::min(a.x, b.x) - r)); x <= static_cast<int>(std::max(a.x, b.x) + r);
           ++x) {
        const double px = x + 0.5 - a.x, py = y + 0.5 - a.y;
        const double t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0, 1.0) : 0;
        if (std::hypot(px - t * dx, py - t * dy) <= r) blend(x, y, c, 1);
      }
  }

  Image& img_;
  double k_, cx0_ = 0, cy0_ = 0, cx1_ = 0, cy1_ = 0;
};

std::string svg_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

class Svg final : public Surface {
 public:
  Svg(double width, double height) {
    out_ << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
         << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << " " << height
         << "\" font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  }
  std::string finish() { return out_.str() + "</svg>\n"; }

  void clip(double x, double y, double w, double h) override {
    ++clips_;
    out_ << "<clipPath id=\"clip" << clips_ << "\"><rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(w)
         << "\" height=\"" << num(h) << "\"/></clipPath>\n<g clip-path=\"url(#clip" << clips_ << ")\">\n";
  }
  void unclip() override { out_ << "</g>\n"; }
  void path(const std::vector<Run>& runs, Rgb c, double width, const char* cls) override {
    out_ << "<path class=\"" << cls << "\" d=\"";
    const char* sep = "";
    for (const Run& run : runs) {
      for (size_t i = 0; i < run.size(); ++i, sep = " ") out_ << sep << (i ? "L" : "M") << num(run[i].x) << " " << num(run[i].y);
      if (run.size() == 1) out_ << " l0 0";  // a lone point: a zero-length segment, a dot by the round cap
    }
    out_ << "\" fill=\"none\" stroke=\"" << hex(c) << "\" stroke-width=\"" << num(width)
         << "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>\n";
  }
  void polygon(const Run& pts, Rgb c, double opacity, const char* cls) override {
    out_ << "<path class=\"" << cls << "\" d=\"";
    for (size_t i = 0; i < pts.size(); ++i) out_ << (i ? " L" : "M") << num(pts[i].x) << " " << num(pts[i].y);
    out_ << " Z\" fill=\"" << hex(c) << "\"" << opacity_attr("fill-opacity", opacity) << "/>\n";
  }
  void dots(const Run& centres, double radius, Rgb c, double opacity, const char* cls) override {
    out_ << "<g class=\"" << cls << "\" fill=\"" << hex(c) << "\"" << opacity_attr("fill-opacity", opacity) << ">";
    for (Pt p : centres) out_ << "<circle cx=\"" << num(p.x) << "\" cy=\"" << num(p.y) << "\" r=\"" << num(radius) << "\"/>";
    out_ << "</g>\n";
  }
  void text(const std::string& s, double x, double y, double size, Anchor a, Rgb c, bool vertical) override {
    if (s.empty()) return;
    out_ << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" font-size=\"" << num(size * 10) << "\" fill=\"" << hex(c)
         << "\"" << (a == Anchor::middle ? " text-anchor=\"middle\"" : a == Anchor::end ? " text-anchor=\"end\"" : "");
    if (vertical) out_ << " transform=\"rotate(-90 " << num(x) << " " << num(y) << ")\"";
    out_ << ">" << svg_escape(s) << "</text>\n";
  }

 private:
  static std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? "0" : s;
  }
  static std::string hex(Rgb c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
    return buf;
  }
  static std::string opacity_attr(const char* name, double opacity) {
    return opacity < 1 ? std::string(" ") + name + "=\"" + num(opacity) + "\"" : "";
  }
  std::ostringstream out_;
  int clips_ = 0;
};

}  // namespace

Rgb palette(size_t i) { return kPalette[i % std::size(kPalette)]; }

// Width of a text in units at `size` (1 = 5x9 glyph dots of one unit).
double text_width(const std::string& s, double size) {
  const auto n = static_cast<double>(decode_utf8(s).size());
  return n > 0 ? (n * kAdvance - 1) * size : 0;
}

Image rasterize(int width, int height, double scale, const std::function<void(Surface&)>& draw) {
  Image img;
  img.width = width;
  img.height = height;
  img.rgb.assign(static_cast<size_t>(width) * static_cast<size_t>(height) * 3, 255);
  Raster raster(img, scale);
  draw(raster);
  return img;
}

std::string svg_document(double width, double height, const std::function<void(Surface&)>& draw) {
  Svg svg(width, height);
  draw(svg);
  return svg.finish();
}

}  // namespace tg::runner::draw
