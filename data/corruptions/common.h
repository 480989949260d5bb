// Internals of the corruptions: a float image, the random stream, and the image-processing routines
// that the reference borrows from SciPy, scikit-image, OpenCV, ImageMagick and PIL. Not a public API.
#pragma once

#include <cstdint>
#include <vector>

#include "data/corruptions/corruptions.h"

namespace tg::corruptions {

// Pixels as float64 [C, H, W], nominally in [0, 1].
struct Image {
  int c = 0, h = 0, w = 0;
  std::vector<double> px;

  Image() = default;
  Image(int c_, int h_, int w_, double fill = 0.0) : c(c_), h(h_), w(w_), px(size_t(c_) * h_ * w_, fill) {}
  double& at(int ch, int y, int x) { return px[(size_t(ch) * h + y) * w + x]; }
  double at(int ch, int y, int x) const { return px[(size_t(ch) * h + y) * w + x]; }
  // One channel as its own image.
  Image plane(int ch) const;
  void set_plane(int ch, const Image& p);
};

// A Philox stream keyed by one block taken from a Generator.
class Rng {
 public:
  explicit Rng(Generator& gen);
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // standard normal
  int64_t randint(int64_t lo, int64_t hi);  // [lo, hi), like np.random.randint
  int64_t poisson(double lambda);        // Knuth below 10, Hoermann's PTRS above (as NumPy)

 private:
  uint32_t next_word();
  uint64_t key_ = 0, counter_ = 0;
  uint32_t buf_[4] = {0, 0, 0, 0};
  int used_ = 4;
};

// The 1-D Gaussian taps of scipy.ndimage.gaussian_filter: radius int(truncate * sigma + 0.5).
std::vector<double> gaussian_taps(double sigma, double truncate);

enum class Border { nearest, reflect, reflect101 };
// Index `i` in [0, n) by border rule: nearest (aaa|abc|ccc), reflect = SciPy's 'reflect' (cba|abc|cba),
// reflect101 = OpenCV's default (cb|abc|ba).
int border_index(int i, int n, Border b);

// skimage.filters.gaussian(x, sigma, multichannel=True) = scipy.ndimage.gaussian_filter on H and W
// (channels untouched), mode 'nearest', truncate 4, unless given.
Image gaussian_blur(const Image& x, double sigma, Border border = Border::nearest, double truncate = 4.0);

// cv2.filter2D(x, -1, kernel) per channel: correlation with a (2r+1)^2 kernel, BORDER_REFLECT_101.
Image filter2d(const Image& x, const std::vector<double>& kernel, int r);

// ImageMagick's MotionBlurImage(radius, sigma, angle) on uint8-valued pixels: a one-sided Gaussian
// line kernel, result rounded to 8 bits as the PNG round trip of the reference does.
Image motion_blur_magick(const Image& x, double radius, double sigma, double angle_deg);

// The reference's clipped_zoom: the centred ceil(h / z) crop, scipy.ndimage.zoom(order=1) by z, the
// centre h x w trimmed out.
Image clipped_zoom(const Image& x, double z);

// The reference's plasma_fractal (diamond-square, np.roll semantics): mapsize x mapsize in [0, 1].
std::vector<double> plasma_fractal(int mapsize, double wibbledecay, Rng& rng);

// PIL Image.resize(size, Image.BOX) on 8-bit pixels: horizontal pass, then vertical, each rounded.
Image resize_box_pil(const Image& x, int out_h, int out_w);

// The family functions: corrupt `x` in place (values may leave [0, 1]; the caller clips).
void gaussian_noise(Image& x, int s, ImageKind k, Rng& rng);
void shot_noise(Image& x, int s, ImageKind k, Rng& rng);
void impulse_noise(Image& x, int s, ImageKind k, Rng& rng);
void defocus_blur(Image& x, int s, ImageKind k, Rng& rng);
void glass_blur(Image& x, int s, ImageKind k, Rng& rng);
void motion_blur(Image& x, int s, ImageKind k, Rng& rng);
void zoom_blur(Image& x, int s, ImageKind k, Rng& rng);
void snow(Image& x, int s, ImageKind k, Rng& rng);
void frost(Image& x, int s, ImageKind k, Rng& rng);
void fog(Image& x, int s, ImageKind k, Rng& rng);
void brightness(Image& x, int s, ImageKind k, Rng& rng);
void contrast(Image& x, int s, ImageKind k, Rng& rng);
void elastic_transform(Image& x, int s, ImageKind k, Rng& rng);
void pixelate(Image& x, int s, ImageKind k, Rng& rng);
void jpeg_compression(Image& x, int s, ImageKind k, Rng& rng);

// The lossy part of a baseline JPEG encode + decode at `quality` (libjpeg's scaling of the standard
// tables), 4:2:0 chroma for 3 channels (PIL's default), luminance only for 1. 8-bit in, 8-bit out.
Image jpeg_round_trip(const Image& x, int quality);

// The constant of severity s (1..5) from the table of kind k.
template <class T>
const T& pick(const T (&cifar)[5], const T (&tiny)[5], int s, ImageKind k) {
  return k == ImageKind::cifar32 ? cifar[s - 1] : tiny[s - 1];
}

}  // namespace tg::corruptions
