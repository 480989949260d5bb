// Image transforms for training and evaluation. Each takes one image [C, H, W] or a batch
// [N, C, H, W], of uint8 pixels or floats (float32/float64), and returns a new tensor of the same
// dtype (except to_float). Random ones draw from a Generator, one draw per image, so a seeded
// generator gives the same augmentation on any machine. Semantics follow torchvision/PyTorch.
#pragma once

#include <cstdint>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace tg {

enum class Interpolation { bilinear, bicubic };

// uint8 pixels -> float32 in [0, 1] (x / 255); float images are returned as they are.
Tensor to_float(const Tensor& images);

// Mirrors each image left-right.
Tensor hflip(const Tensor& images);

// The out_h x out_w window at (top, left) of each image, where the image is surrounded by zeros:
// top and left may be negative and the window may run past the edges (those pixels are 0).
Tensor crop(const Tensor& images, int64_t top, int64_t left, int64_t out_h, int64_t out_w);
Tensor center_crop(const Tensor& images, int64_t out_h, int64_t out_w);

// torchvision RandomCrop(size, padding): pads `padding` zeros on every side, then takes an
// out_h x out_w window at a uniformly random position, chosen per image.
Tensor random_crop(const Tensor& images, int64_t out_h, int64_t out_w, int64_t padding, Generator& gen);

// torchvision RandomHorizontalFlip(p): each image mirrored with probability p.
Tensor random_horizontal_flip(const Tensor& images, Generator& gen, double p = 0.5);

// torch.nn.functional.interpolate(mode, align_corners=False, antialias=False): the source of
// output pixel i is (i + 0.5) * in / out - 0.5; bilinear clamps it at 0 and blends 2 x 2 pixels;
// bicubic uses Keys' cubic with a = -0.75 on 4 x 4 pixels, indices clamped to the border. For
// upscaling (CIFAR 32 -> 224 for ViT) this also equals torchvision's Resize on tensors. For
// downscaling it differs from PIL and from antialias=True, which widen the filter to the scale.
// uint8 input is computed in float and rounded and clamped to [0, 255]; float output is not clamped
// (bicubic overshoots slightly, as in PyTorch).
Tensor resize(const Tensor& images, int64_t out_h, int64_t out_w, Interpolation mode = Interpolation::bilinear);

}  // namespace tg
