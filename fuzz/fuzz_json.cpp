// libFuzzer target: the JSON reader (util/json.cpp): configs, metrics, safetensors headers.
#include "fuzz/targets.h"

TG_FUZZ_TARGET(json)
