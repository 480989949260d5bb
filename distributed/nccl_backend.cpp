#include "distributed/nccl_backend.h"

#include <nccl.h>

#include "tensor/cuda/runtime.h"
#include "util/error.h"

namespace tg::distributed {

namespace {

void nccl_check(ncclResult_t rc, const char* call, const Tensor* t = nullptr) {
  if (rc == ncclSuccess) return;
  TG_FAIL("distributed (NCCL): ", call, t ? " on " + t->str() : std::string(), " failed: ", ncclGetErrorString(rc),
          " (NCCL_DEBUG=WARN says more)");
}

ncclDataType_t nccl_type(const Tensor& t) {
  if (t.dtype() == DType::f32) return ncclFloat32;
  if (t.dtype() == DType::f64) return ncclFloat64;
  return ncclInt64;
}

}  // namespace

struct Nccl::Handle {
  ncclComm_t comm = nullptr;
};

Nccl::Nccl(int64_t rank, int64_t size, int device, const std::function<void(void*, int)>& share_id)
    : handle_(std::make_unique<Handle>()), size_(size), device_(device) {
  ncclUniqueId id{};
  if (rank == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  share_id(&id, static_cast<int>(sizeof(id)));
  cuda::use_device(device);
  (void)cuda::stream();  // binds this thread to the device before NCCL makes its resources there
  nccl_check(ncclCommInitRank(&handle_->comm, static_cast<int>(size), id, static_cast<int>(rank)), "ncclCommInitRank");
}

Nccl::~Nccl() {
  if (handle_->comm) ncclCommDestroy(handle_->comm);
}

void Nccl::allreduce_sum(Tensor& t) {
  nccl_check(ncclAllReduce(t.raw(), t.raw(), static_cast<size_t>(t.numel()), nccl_type(t), ncclSum, handle_->comm,
                           cuda::stream()),
             "ncclAllReduce", &t);
}

void Nccl::broadcast(Tensor& t, int64_t root) {
  nccl_check(ncclBroadcast(t.raw(), t.raw(), static_cast<size_t>(t.numel()), nccl_type(t), static_cast<int>(root),
                           handle_->comm, cuda::stream()),
             "ncclBroadcast", &t);
}

Tensor Nccl::allgather(const Tensor& t) {
  Shape shape = t.shape();
  shape.insert(shape.begin(), size_);
  Tensor all = Tensor::empty(shape, t.dtype(), t.device());
  nccl_check(ncclAllGather(t.raw(), all.raw(), static_cast<size_t>(t.numel()), nccl_type(t), handle_->comm,
                           cuda::stream()),
             "ncclAllGather", &t);
  return all;
}

}  // namespace tg::distributed
