#include "tensor/transfer.h"

#include <utility>

#include "util/error.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

namespace tg {

AsyncCopy::AsyncCopy(std::vector<Tensor> sources, Device device) : sources_(std::move(sources)) {
  for (const auto& s : sources_)
    TG_CHECK(s.defined() && s.device().is_cpu(), "AsyncCopy: sources must be host tensors, got ", s.str());
  if (device.is_cpu()) {
    results_ = std::move(sources_);
    sources_.clear();
    return;
  }
  require_cuda("AsyncCopy");
#ifdef TAUGRAD_CUDA
  for (const auto& s : sources_) results_.push_back(Tensor::empty(s.shape(), s.dtype(), device));
  cudaEvent_t allocated = cuda::record_event(cuda::stream());  // after every kernel queued so far
  cuda::wait_event(cuda::copy_stream(), allocated);
  cuda::destroy_event(allocated);
  for (size_t i = 0; i < sources_.size(); ++i)
    cuda::copy_to_device_async(results_[i].raw(), sources_[i].raw(), sources_[i].nbytes(), cuda::copy_stream());
  event_ = cuda::record_event(cuda::copy_stream());
#endif
}

AsyncCopy::~AsyncCopy() {
  try {
    synchronize();
  } catch (...) {  // a destructor must not throw; the error shows again at the next synchronization
  }
}

AsyncCopy::AsyncCopy(AsyncCopy&& other) noexcept
    : sources_(std::move(other.sources_)), results_(std::move(other.results_)), event_(std::exchange(other.event_, nullptr)) {
  other.sources_.clear();
  other.results_.clear();
}

AsyncCopy& AsyncCopy::operator=(AsyncCopy&& other) noexcept {
  if (this != &other) {
    try {
      synchronize();
    } catch (...) {
    }
    sources_ = std::move(other.sources_);
    results_ = std::move(other.results_);
    event_ = std::exchange(other.event_, nullptr);
    other.sources_.clear();
    other.results_.clear();
  }
  return *this;
}

std::vector<Tensor> AsyncCopy::hand_over() {
#ifdef TAUGRAD_CUDA
  if (event_ != nullptr) cuda::wait_event(cuda::stream(), static_cast<cudaEvent_t>(event_));
#endif
  std::vector<Tensor> out = std::move(results_);
  results_.clear();
  return out;
}

void AsyncCopy::synchronize() {
#ifdef TAUGRAD_CUDA
  if (event_ != nullptr) {
    auto event = static_cast<cudaEvent_t>(std::exchange(event_, nullptr));
    struct Destroy {
      cudaEvent_t e;
      ~Destroy() { cuda::destroy_event(e); }
    } destroy{event};
    cuda::synchronize_event(event);
  }
#endif
  sources_.clear();
}

}  // namespace tg
