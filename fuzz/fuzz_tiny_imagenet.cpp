// libFuzzer target: Tiny-ImageNet's wnids.txt and val_annotations.txt (data/tiny_imagenet.cpp).
#include "fuzz/targets.h"

TG_FUZZ_TARGET(tiny_imagenet)
