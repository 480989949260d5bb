// Noise: Gaussian, shot (Poisson) and impulse (salt and pepper), per pixel and per channel.
// Constants: make_cifar_c.py (32x32) and make_tinyimagenet_c.py (64x64).
#include "data/corruptions/common.h"

namespace tg::corruptions {

// x + N(0, c^2), c the standard deviation in [0, 1] pixel units.
void gaussian_noise(Image& x, int s, ImageKind k, Rng& rng) {
  static const double cifar[5] = {0.04, 0.06, 0.08, 0.09, 0.10};
  static const double tiny[5] = {0.04, 0.08, 0.12, 0.15, 0.18};
  double c = pick(cifar, tiny, s, k);
  for (double& v : x.px) v += c * rng.normal();
}

// Poisson(x * c) / c: photon counting with c photons at full white (fewer = noisier).
void shot_noise(Image& x, int s, ImageKind k, Rng& rng) {
  static const double cifar[5] = {500, 250, 100, 75, 50};
  static const double tiny[5] = {250, 100, 50, 30, 15};
  double c = pick(cifar, tiny, s, k);
  for (double& v : x.px) v = double(rng.poisson(v * c)) / c;
}

// skimage.util.random_noise(mode='s&p', amount=c, salt_vs_pepper=0.5): each value (every channel on
// its own) is replaced with probability c, by 1 or 0 with equal odds.
void impulse_noise(Image& x, int s, ImageKind k, Rng& rng) {
  static const double cifar[5] = {0.01, 0.02, 0.03, 0.05, 0.07};
  static const double tiny[5] = {0.01, 0.02, 0.05, 0.08, 0.14};
  double c = pick(cifar, tiny, s, k);
  for (double& v : x.px) {
    bool flipped = rng.uniform() <= c;
    bool salted = rng.uniform() <= 0.5;
    if (flipped) v = salted ? 1.0 : 0.0;
  }
}

}  // namespace tg::corruptions
