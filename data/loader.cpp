#include "data/loader.h"

#include <cstring>

#include "data/transforms.h"

namespace tg {

namespace {

// A stream of its own for each (seed, epoch, batch): SplitMix64 of the triple as the Philox key.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The batch's images as float32 in [0, 1] in pinned memory: uint8 converted straight into it (as
// to_float does: x / 255 in float), float32 copied, anything else cast first.
Tensor pinned_float(const Tensor& images) {
  Tensor out = Tensor::empty_pinned(images.shape(), DType::f32);
  if (images.dtype() == DType::u8) {
    const uint8_t* s = images.data<uint8_t>();
    float* d = out.data<float>();
    for (int64_t i = 0; i < images.numel(); ++i) d[i] = static_cast<float>(s[i]) / 255.0f;
  } else {
    out.copy_(images.to(DType::f32));
  }
  return out;
}

}  // namespace

DataLoader::DataLoader(Dataset data, LoaderOptions options) : data_(std::move(data)), options_(std::move(options)) {
  TG_CHECK(options_.batch_size > 0, "DataLoader: batch size must be positive, got ", options_.batch_size);
  TG_CHECK(options_.num_workers >= 0 && options_.prefetch >= 1, "DataLoader: need num_workers >= 0 and prefetch >= 1");
  TG_CHECK(data_.images.defined() && data_.images.dim() == 4 && data_.size() == data_.images.size(0),
           "DataLoader: dataset '", data_.name, "' needs images [N, C, H, W] and labels [N]");
  data_.images = data_.images.cpu();
  data_.labels = data_.labels.cpu();
  row_bytes_ = data_.size() ? data_.images.nbytes() / static_cast<size_t>(data_.size()) : 0;
  for (int i = 0; i < options_.num_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

int64_t DataLoader::num_batches() const {
  int64_t n = data_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::start_epoch(int64_t epoch) {
  std::vector<int64_t> order;
  if (options_.shuffle) {
    Generator gen(options_.seed + static_cast<uint64_t>(epoch));
    order = randperm(data_.size(), Device::cpu(), &gen).to_vector<int64_t>();
  } else {
    order.resize(static_cast<size_t>(data_.size()));
    for (int64_t i = 0; i < data_.size(); ++i) order[i] = i;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++generation_;
    started_ = true;
    epoch_ = epoch;
    order_ = std::make_shared<const std::vector<int64_t>>(std::move(order));
    next_claim_ = next_yield_ = 0;
    ready_.clear();
  }
  work_cv_.notify_all();
}

Batch DataLoader::assemble(int64_t epoch, int64_t b, const std::vector<int64_t>& order) const {
  int64_t begin = b * options_.batch_size;
  int64_t end = std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order.size()));
  Shape shape = data_.images.shape();
  shape[0] = end - begin;
  const DType dtype = data_.images.dtype();
  // With pin_memory, float32 rows that need no augmentation are gathered straight into the batch.
  const bool final_rows = options_.pin_memory && !options_.augment && dtype == DType::f32;
  Tensor images = final_rows ? Tensor::empty_pinned(shape, dtype) : Tensor::empty(shape, dtype);
  Tensor labels = options_.pin_memory ? Tensor::empty_pinned({end - begin}, DType::i64)
                                      : Tensor::empty({end - begin}, DType::i64);
  const char* src = static_cast<const char*>(data_.images.raw());
  char* dst = static_cast<char*>(images.raw());
  const int64_t* lab = data_.labels.data<int64_t>();
  int64_t* out_lab = labels.data<int64_t>();
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(dst + (i - begin) * row_bytes_, src + order[i] * row_bytes_, row_bytes_);
    out_lab[i - begin] = lab[order[i]];
  }
  if (options_.augment) {
    Generator gen(mix(mix(options_.seed) ^ static_cast<uint64_t>(epoch)) ^ static_cast<uint64_t>(b));
    images = options_.augment(images, gen);
  }
  Batch batch;
  if (final_rows) {
    batch.images = images;
  } else if (options_.pin_memory) {
    batch.images = pinned_float(images);
  } else {
    batch.images = to_float(images);
    if (batch.images.dtype() != DType::f32) batch.images = batch.images.to(DType::f32);
  }
  batch.labels = labels;
  batch.index = b;
  return batch;
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stop_ || (started_ && next_claim_ < num_batches() && next_claim_ < next_yield_ + options_.prefetch);
    });
    if (stop_) return;
    int64_t b = next_claim_++, epoch = epoch_;
    uint64_t generation = generation_;
    std::shared_ptr<const std::vector<int64_t>> order = order_;
    lock.unlock();
    Slot slot;
    try {
      slot.batch = assemble(epoch, b, *order);
    } catch (...) {
      slot.error = std::current_exception();
    }
    lock.lock();
    if (generation == generation_) {
      ready_[b] = std::move(slot);
      ready_cv_.notify_all();
    }
  }
}

std::optional<Batch> DataLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  TG_CHECK(started_, "DataLoader::next: call start_epoch first");
  if (next_yield_ >= num_batches()) return std::nullopt;
  int64_t b = next_yield_++;
  if (workers_.empty()) {
    auto order = order_;
    int64_t epoch = epoch_;
    lock.unlock();
    return assemble(epoch, b, *order);
  }
  ready_cv_.wait(lock, [&] { return ready_.count(b) > 0; });
  Slot slot = std::move(ready_[b]);
  ready_.erase(b);
  lock.unlock();
  work_cv_.notify_all();  // the prefetch window moved
  if (slot.error) std::rethrow_exception(slot.error);
  return std::move(slot.batch);
}

}  // namespace tg
