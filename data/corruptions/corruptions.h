// The 15 common corruptions of Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to
// Common Corruptions and Perturbations" (ICLR 2019), at severities 1-5, with the constants of their
// reference scripts: make_cifar_c.py for 32x32 images (CIFAR-10-C, CIFAR-100-C) and
// make_tinyimagenet_c.py for 64x64 images (Tiny-ImageNet-C). Written in C++ without OpenCV,
// ImageMagick, SciPy, scikit-image or PIL; each file says which of their routines it reproduces.
//
// Layout: one image, uint8 [C, H, W] (what Dataset holds), C = 1 (grayscale) or 3 (RGB); the result
// has the same shape and dtype. Internally pixels are float64 in [0, 1], as in the reference
// (np.array(x) / 255.), and the result is np.uint8(np.clip(x, 0, 1) * 255): truncated, not rounded.
//
// Grayscale images (MNIST, Fashion-MNIST) are corrupted as one channel: every step is written for
// any channel count, and the colour-only steps reduce exactly to what they do on a gray RGB image
// (R = G = B): brightness in HSV adds c to V = the gray value; snow's RGB->gray is the value itself;
// JPEG codes the luminance plane only (as PIL does for mode 'L'); frost uses its texture's luminance.
//
// Randomness: each call takes one Philox block from `gen` and draws everything else from a stream
// keyed by it, so the same generator state gives the same corrupted image. The draws follow the
// reference's distributions, not NumPy's bit streams (those cannot be reproduced).
//
// Fidelity (see the family files): JPEG (libjpeg's integer DCT and colour conversion), pixelate
// (PIL's BOX resize) and contrast match PIL/NumPy bit for bit on the images we compared; brightness
// is within one level of an HSV round trip. Approximations: frost uses a procedural frost texture,
// not the reference's six photographs; ImageMagick's motion blur, OpenCV's filter2D/warpAffine and
// SciPy's zoom/gaussian_filter/map_coordinates are re-implemented in float64 where the originals
// use fixed point or float32, so those can differ from the reference by a level here and there.
#pragma once

#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg {

// Which constants table: make_cifar_c.py (32x32) or make_tinyimagenet_c.py (64x64). Images of other
// sizes (28x28 Fashion-MNIST) use the table of their kind; sizes enter the geometry directly.
enum class ImageKind { cifar32, tiny64 };

// The 15 benchmark corruptions in the benchmark's order: gaussian_noise, shot_noise, impulse_noise,
// defocus_blur, glass_blur, motion_blur, zoom_blur, snow, frost, fog, brightness, contrast,
// elastic_transform, pixelate, jpeg_compression.
std::vector<std::string> corruption_names();

// The corrupted image (uint8 [C, H, W], C = 1 or 3) at `severity` 1..5. Unknown names and bad
// severities are errors that list the valid values.
Tensor corrupt(const Tensor& image, const std::string& name, int severity, Generator& gen,
               ImageKind kind = ImageKind::cifar32);

// Every image of a batch uint8 [N, C, H, W], in parallel (OpenMP). Image i gets the generator state
// that corrupt() called on the images one by one would see (gen advances one block per image), so
// results depend neither on the thread count nor on how a set is split into batches.
Tensor corrupt_batch(const Tensor& images, const std::string& name, int severity, Generator& gen,
                     ImageKind kind = ImageKind::cifar32);

}  // namespace tg
