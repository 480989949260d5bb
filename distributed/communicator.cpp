#include "distributed/communicator.h"

#include <cstdlib>
#include <memory>

#include "tensor/ops.h"
#include "util/error.h"

#ifdef TAUGRAD_MPI
#include <mpi.h>
#endif
#ifdef TAUGRAD_NCCL
#include "distributed/nccl_backend.h"
#endif

namespace tg::distributed {

namespace {

constexpr bool kNccl =
#ifdef TAUGRAD_NCCL
    true;
#else
    false;
#endif

// The checks every collective makes on its tensor. gpu_ok: a CUDA tensor has a backend here (the single
// process, or NCCL beside MPI).
void check_tensor(const Tensor& t, const char* op, bool gpu_ok = true) {
  TG_CHECK(t.defined(), "distributed::", op, ": the tensor is undefined");
  TG_CHECK(gpu_ok || !t.is_cuda(), "distributed::", op, ": ", t.str(), " is on a GPU, and this build has no NCCL "
           "backend (MPI takes CPU tensors): move it with .cpu(), or build with CUDA and NCCL (meson -Dnccl=enabled)");
  TG_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64 || t.dtype() == DType::i64, "distributed::", op, ": ",
           t.str(), " has a dtype the communicator does not carry (f32, f64, i64)");
}

struct Done final : Work {
  void wait() override {}
};

class SingleProcess final : public Communicator {
 public:
  int64_t rank() const override { return 0; }
  int64_t size() const override { return 1; }
  std::string backend() const override { return "single process"; }
  void allreduce_sum(Tensor& t) override { check_tensor(t, "allreduce_sum"); }
  void broadcast(Tensor& t, int64_t root) override {
    check_tensor(t, "broadcast");
    TG_CHECK(root == 0, "distributed::broadcast: root ", root, " is not a rank of a single process");
  }
  Tensor allgather(const Tensor& t) override {
    check_tensor(t, "allgather");
    Shape shape = t.shape();
    shape.insert(shape.begin(), 1);
    return t.clone().reshape(shape);
  }
};

#ifdef TAUGRAD_MPI
MPI_Datatype mpi_type(DType dtype) {
  if (dtype == DType::f32) return MPI_FLOAT;
  if (dtype == DType::f64) return MPI_DOUBLE;
  return MPI_INT64_T;
}

void mpi_check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  TG_FAIL("distributed: ", call, " failed: ", text);
}

// An MPI_Iallreduce in flight; holds its tensor's storage until it is done.
class MpiWork final : public Work {
 public:
  explicit MpiWork(Tensor t) : tensor_(std::move(t)) {}
  ~MpiWork() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  void wait() override { mpi_check(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait"); }
  MPI_Request* request() { return &request_; }

 private:
  Tensor tensor_;
  MPI_Request request_ = MPI_REQUEST_NULL;
};

// MPI_COMM_WORLD. MPI_Init in the constructor, MPI_Finalize in the destructor (at exit). CUDA tensors go
// to NCCL (made on the first of them), CPU tensors to MPI.
class Mpi final : public Communicator {
 public:
  Mpi() {
    mpi_check(MPI_Init(nullptr, nullptr), "MPI_Init");
    int r = 0, n = 1, local = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    MPI_Comm node;  // the ranks that share this node's memory (and GPUs)
    mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, r, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
    MPI_Comm_rank(node, &local);
    MPI_Comm_free(&node);
    rank_ = r, size_ = n, local_rank_ = local;
  }
  ~Mpi() override {
#ifdef TAUGRAD_NCCL
    // At exit the CUDA runtime may be torn down already (its handler was registered after this object
    // was made), and ncclCommDestroy would call into it: the NCCL communicator ends with the process.
    (void)nccl_.release();
#endif
    MPI_Finalize();
  }
  int64_t rank() const override { return rank_; }
  int64_t size() const override { return size_; }
  int64_t local_rank() const { return local_rank_; }
  std::string backend() const override { return kNccl ? "MPI + NCCL" : "MPI"; }
  void allreduce_sum(Tensor& t) override {
    check_tensor(t, "allreduce_sum", kNccl);
#ifdef TAUGRAD_NCCL
    if (t.is_cuda()) return gpu(t).allreduce_sum(t);
#endif
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, t.raw(), count(t), mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
  }
  std::unique_ptr<Work> allreduce_sum_async(Tensor& t) override {
    // A CUDA tensor's collective (NCCL) is enqueued on the stream: the host does not wait for it, and
    // the kernels after it are ordered after it, so it is done work for the host.
    if (t.is_cuda()) return Communicator::allreduce_sum_async(t);
    check_tensor(t, "allreduce_sum_async");
    auto work = std::make_unique<MpiWork>(t);
    mpi_check(MPI_Iallreduce(MPI_IN_PLACE, t.raw(), count(t), mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD,
                             work->request()), "MPI_Iallreduce");
    return work;
  }
  void broadcast(Tensor& t, int64_t root) override {
    check_tensor(t, "broadcast", kNccl);
    TG_CHECK(root >= 0 && root < size_, "distributed::broadcast: root ", root, " is not a rank (0..", size_ - 1, ")");
#ifdef TAUGRAD_NCCL
    if (t.is_cuda()) return gpu(t).broadcast(t, root);
#endif
    mpi_check(MPI_Bcast(t.raw(), count(t), mpi_type(t.dtype()), static_cast<int>(root), MPI_COMM_WORLD), "MPI_Bcast");
  }
  Tensor allgather(const Tensor& t) override {
    check_tensor(t, "allgather", kNccl);
#ifdef TAUGRAD_NCCL
    if (t.is_cuda()) return gpu(t).allgather(t);
#endif
    Shape shape = t.shape();
    shape.insert(shape.begin(), size_);
    Tensor all = Tensor::empty(shape, t.dtype());
    mpi_check(MPI_Allgather(t.raw(), count(t), mpi_type(t.dtype()), all.raw(), count(t), mpi_type(t.dtype()),
                            MPI_COMM_WORLD), "MPI_Allgather");
    return all;
  }

 private:
  static int count(const Tensor& t) {
    TG_CHECK(t.numel() <= INT32_MAX, "distributed: ", t.str(), " has more elements than one MPI call carries (2^31 - 1)");
    return static_cast<int>(t.numel());
  }
#ifdef TAUGRAD_NCCL
  // NCCL on the process's GPU, made by the first collective on a CUDA tensor (every rank makes it then)
  // on that tensor's device: taugrad's CUDA runtime holds a process to one GPU (tensor/cuda/runtime.h),
  // so every later CUDA tensor is there too.
  Nccl& gpu(const Tensor& t) {
    if (!nccl_)
      nccl_ = std::make_unique<Nccl>(rank_, size_, static_cast<int>(t.device().index), [](void* id, int bytes) {
        mpi_check(MPI_Bcast(id, bytes, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast (the NCCL unique id)");
      });
    return *nccl_;
  }
  std::unique_ptr<Nccl> nccl_;
#endif
  int64_t rank_ = 0, size_ = 1, local_rank_ = 0;
};

// Started by an MPI launcher (Open MPI's mpirun, or a PMI-based one such as MPICH's or Slurm's srun).
bool launched_by_mpi() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE"); }
#endif

}  // namespace

std::unique_ptr<Work> Communicator::allreduce_sum_async(Tensor& t) {
  allreduce_sum(t);
  return std::make_unique<Done>();
}

void Communicator::allreduce_mean(Tensor& t) {
  TG_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, "distributed::allreduce_mean: ", t.str(),
           " is not floating point (use allreduce_sum)");
  allreduce_sum(t);
  if (size() > 1) t.copy_(mul(t, 1.0 / static_cast<double>(size())));
}

Communicator& world() {
#ifdef TAUGRAD_MPI
  if (launched_by_mpi()) {
    static Mpi mpi;
    return mpi;
  }
#endif
  static SingleProcess single;
  return single;
}

int64_t local_rank() {
#ifdef TAUGRAD_MPI
  if (launched_by_mpi()) return static_cast<Mpi&>(world()).local_rank();
#endif
  return 0;
}

Device rank_gpu() {
  const int gpus = cuda_device_count();
  TG_CHECK(gpus > 0, "distributed::rank_gpu: this process sees no GPU");
  return Device::cuda(static_cast<int>(local_rank() % gpus));
}

bool nccl_built() { return kNccl; }

bool mpi_built() {
#ifdef TAUGRAD_MPI
  return true;
#else
  return false;
#endif
}

}  // namespace tg::distributed
