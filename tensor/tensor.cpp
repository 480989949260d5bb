#include "tensor/tensor.h"

#include <cstdlib>
#include <cstring>

#include "tensor/dispatch.h"
#include "tensor/host_allocator.h"
#include "tensor/storage_observer.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

namespace tg {

// ---- storage ---------------------------------------------------------------------------------

namespace {
detail::StorageObserver g_storage_observer = nullptr;
}  // namespace

void detail::set_storage_observer(StorageObserver observer) { g_storage_observer = observer; }

Storage::Storage(size_t bytes, Device device, bool pinned) : bytes_(bytes), device_(device) {
  if (g_storage_observer) g_storage_observer(this, bytes, true);
  if (device.is_cuda()) {
    require_cuda("allocate");
#ifdef TAUGRAD_CUDA
    cuda::use_device(device.index);  // the process's GPU: the first CUDA tensor chooses it
    data_ = cuda::allocate(bytes);
#endif
    return;
  }
#ifdef TAUGRAD_CUDA
  if (pinned) data_ = cuda::allocate_pinned(bytes);  // nullptr without a GPU: ordinary memory below
  pinned_ = data_ != nullptr;
#else
  (void)pinned;
#endif
  if (!pinned_) data_ = host::allocate(bytes);
}

Storage::~Storage() {
  if (g_storage_observer) g_storage_observer(this, bytes_, false);
#ifdef TAUGRAD_CUDA
  if (pinned_) {
    cuda::deallocate_pinned(data_);
    return;
  }
#endif
  if (device_.is_cpu()) {
    host::deallocate(data_, bytes_);
    return;
  }
#ifdef TAUGRAD_CUDA
  cuda::deallocate(data_);
#endif
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#ifdef TAUGRAD_CUDA
  cuda::copy(dst, dst_device.is_cuda(), src, src_device.is_cuda(), bytes);
#else
  require_cuda("copy");
#endif
}

// ---- tensor ----------------------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) TG_CHECK(d >= 0, "empty: negative size in shape ", shape_str(shape));
  Tensor t;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(tg::numel(shape)) * dtype_size(dtype),
                                         device);
  t.shape_ = shape;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  for (int64_t d : shape) TG_CHECK(d >= 0, "empty_pinned: negative size in shape ", shape_str(shape));
  Tensor t;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(tg::numel(shape)) * dtype_size(dtype), Device::cpu(),
                                         true);
  t.shape_ = shape;
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full({}, value, dtype, device);
}

Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
  Tensor t = empty({n}, dtype, Device::cpu());
  visit_dtype(dtype, [&](auto zero) {
    using T = decltype(zero);
    T* p = t.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return t.to(device);
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  TG_CHECK(static_cast<int64_t>(values.size()) == tg::numel(shape), "from_vector: ", values.size(),
           " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>(), device);
  copy_bytes(t.raw(), device, values.data(), Device::cpu(), values.size() * sizeof(T));
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape_[wrap_axis(d, dim(), "size")]; }

void* Tensor::raw() const {
  TG_CHECK(defined(), "use of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_dtype(DType want, const char* what) const {
  TG_CHECK(defined(), what, ": undefined tensor");
  TG_CHECK(dtype_ == want, what, ": tensor is ", dtype_name(dtype_), ", asked for ", dtype_name(want));
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TG_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = static_cast<int64_t>(i);
    } else {
      known *= out[i];
    }
  }
  if (infer >= 0) {
    TG_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer -1 reshaping ",
             shape_str(shape_), " to ", shape_str(shape));
    out[infer] = numel() / known;
  }
  TG_CHECK(tg::numel(out) == numel(), "reshape: ", shape_str(shape_), " has ", numel(),
           " elements, ", shape_str(shape), " wants ", tg::numel(out));
  Tensor t = *this;
  t.shape_ = out;
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  TG_CHECK(dim() >= 1, "slice_rows: needs at least one dim, got ", str());
  TG_CHECK(0 <= begin && begin <= end && end <= shape_[0], "slice_rows: [", begin, ", ", end,
           ") out of range for ", str());
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.offset_ += begin * (shape_[0] ? numel() / shape_[0] : 0);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape_, dtype_, device);
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype, device());
  TG_DISPATCH(device(), cast, *this, t);
  return t;
}

void Tensor::copy_(const Tensor& src) {
  TG_CHECK(src.numel() == numel() && src.dtype() == dtype_, "copy_: source ", src.str(),
           " does not match destination ", str());
  copy_bytes(raw(), device(), src.raw(), src.device(), nbytes());
}

void Tensor::fill_(double value) { TG_DISPATCH(device(), fill, *this, value); }

template <class T>
std::vector<T> Tensor::to_vector() const {
  check_dtype(dtype_of<T>(), "to_vector");
  std::vector<T> out(static_cast<size_t>(numel()));
  copy_bytes(out.data(), Device::cpu(), raw(), device(), nbytes());
  return out;
}

double Tensor::item() const {
  TG_CHECK(numel() == 1, "item: tensor ", str(), " has ", numel(), " elements, not 1");
  return visit_dtype(dtype_, [&](auto zero) {
    using T = decltype(zero);
    return static_cast<double>(to_vector<T>()[0]);
  });
}

std::string Tensor::str() const {
  if (!defined()) return "undefined tensor";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " on " + device().str();
}

#define TG_INSTANTIATE(T)                                                                     \
  template Tensor Tensor::from_vector<T>(const std::vector<T>&, const Shape&, Device);      \
  template std::vector<T> Tensor::to_vector<T>() const;
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
TG_INSTANTIATE(int32_t)
TG_INSTANTIATE(int64_t)
TG_INSTANTIATE(uint8_t)
#undef TG_INSTANTIATE

}  // namespace tg
