// libFuzzer target: decoding of Tiny-ImageNet's JPEG images (data/tiny_imagenet.cpp).
#include "fuzz/targets.h"

TG_FUZZ_TARGET(jpeg)
