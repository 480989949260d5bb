#include "data/prefetcher.h"

#include "util/error.h"

namespace tg {

DevicePrefetcher::DevicePrefetcher(DataLoader& loader, Device device) : loader_(loader), device_(device) {
  if (device_.is_cuda()) require_cuda("DevicePrefetcher");
}

DevicePrefetcher::~DevicePrefetcher() = default;  // pending_ and handed_ wait for their copies

void DevicePrefetcher::start_epoch(int64_t epoch) {
  pending_.reset();
  handed_.synchronize();
  loader_.start_epoch(epoch);
  started_ = true;
  primed_ = false;
}

std::optional<DevicePrefetcher::InFlight> DevicePrefetcher::fetch() {
  std::optional<Batch> b = loader_.next();
  if (!b) return std::nullopt;
  return InFlight{AsyncCopy({b->images, b->labels}, device_), b->index};
}

std::optional<Batch> DevicePrefetcher::next() {
  TG_CHECK(started_, "DevicePrefetcher::next: call start_epoch first");
  if (device_.is_cpu()) return loader_.next();
  // The batch handed out last time was waited on by the compute stream before its step; its copy is
  // done or nearly: wait, and let its pinned host memory go back to the loader.
  handed_.synchronize();
  if (!primed_) {
    pending_ = fetch();
    primed_ = true;
  }
  if (!pending_) return std::nullopt;
  InFlight current = std::move(*pending_);
  pending_ = fetch();  // batch k + 1's copy starts now, before the caller enqueues step k
  std::vector<Tensor> on_device = current.copy.hand_over();
  handed_ = std::move(current.copy);
  Batch out;
  out.images = on_device.at(0);
  out.labels = on_device.at(1);
  out.index = current.index;
  return out;
}

}  // namespace tg
