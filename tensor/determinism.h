// Deterministic algorithms on the GPU (--deterministic, on by default): cuDNN convolutions from its
// heuristics, restricted to the algorithms cuDNN marks deterministic (tensor/algorithm_choice.h), so
// the same inputs give the same bits in every run on the same GPU and software, and a resumed run
// continues bit for bit. Off, the convolutions are timed and the fastest taken, which may differ from
// run to run. The CPU kernels are deterministic at a fixed thread count either way.
#pragma once

namespace tg {

void set_deterministic_algorithms(bool on);
bool deterministic_algorithms();

}  // namespace tg
