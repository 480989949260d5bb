// Tensor: a shape, a dtype and a device over shared storage. Always contiguous and row-major, so a
// kernel sees a plain array; reshape and slicing along dim 0 (batches) share storage and cost nothing.
// Copies are shallow (like torch.Tensor); clone() copies the data.
#pragma once

#include <memory>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"

namespace tg {

// Raw bytes on one device, freed through the allocator of that device. Host storage may be pinned
// (page-locked, from the CUDA runtime's caching pinned allocator): asked for with `pinned`, granted
// only when a GPU is there (else ordinary host memory; pinned() says which).
class Storage {
 public:
  Storage(size_t bytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  bool pinned_ = false;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor arange(int64_t n, DType dtype = DType::i64, Device device = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            Device device = Device::cpu());

  // Host memory the GPU copies from without staging, asynchronously (page-locked; cached for reuse):
  // for batches on their way to the device (data/prefetcher.h). Without CUDA in the build, without a
  // GPU, or when the driver refuses, it is ordinary host memory and is_pinned() is false: never an
  // error. Everything else treats it as a CPU tensor.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::f32);
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return tg::numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  bool is_cuda() const { return device().is_cuda(); }
  bool is_pinned() const { return storage_ && storage_->pinned(); }  // page-locked host memory

  void* raw() const;  // address of the first element (on the tensor's device)
  template <class T>
  T* data() const {
    check_dtype(dtype_of<T>(), "data<T>()");
    return static_cast<T*>(raw());
  }

  // Views that share storage.
  Tensor reshape(const Shape& shape) const;  // one -1 is inferred
  Tensor flatten() const { return reshape({numel()}); }
  Tensor slice_rows(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

  // Copies.
  Tensor clone() const;
  Tensor to(Device device) const;  // returns *this when already there
  Tensor to(DType dtype) const;    // returns *this when already that dtype
  Tensor cpu() const { return to(Device::cpu()); }
  void copy_(const Tensor& src);   // same shape (numel) and dtype; any devices
  void fill_(double value);
  void zero_() { fill_(0.0); }

  template <class T>
  std::vector<T> to_vector() const;  // copies to the host; T must be the dtype
  double item() const;               // a one-element tensor's value, as double

  std::string str() const;  // "float32[2, 3] on cpu"

 private:
  void check_dtype(DType want, const char* what) const;

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  DType dtype_ = DType::f32;
};

// Copies `bytes` between any two devices (host<->device, device<->device, host<->host).
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace tg
