// Synchronized batch norm (torch.nn.SyncBatchNorm): in training, every rank normalizes its slice of the
// global batch with the global batch's statistics, so the ranks together compute what one process
// computes on the whole batch (`train --sync-bn` under mpirun). Per channel, over the M = sum of the
// ranks' N H W values:
//   forward   mean = allreduce(sum x) / M,  var = allreduce(sum (x - mean)^2) / M   (two allreduces:
//             the centered second pass, as batch_norm's kernels; counts travel with the sums, so
//             ranks may hold different numbers of rows), y = gamma (x - mean) invstd + beta; the running
//             statistics move toward mean and var M / (M - 1) as batch_norm's do.
//   backward  dgamma = sum dy xhat, dbeta = sum dy (this rank's: data-parallel training averages
//             parameter gradients itself); dx = gamma invstd (dy - S_dy / M - xhat S_dyxhat / M), where
//             S_dy and S_dyxhat are the allreduced sums of dy and dy xhat (one allreduce): the
//             gradient of the sum of every rank's loss, which DataParallel then averages.
// With one process it is plain batch norm (tensor/reference/batch_norm.cpp has the formulas).
// bfloat16 x (mixed precision) runs the float32 computation on x widened to float32 (exact): float32
// statistics, allreduces and parameter gradients; y and dx are the float32 results rounded once.
#pragma once

#include "autograd/variable.h"
#include "distributed/communicator.h"
#include "nn/module.h"

namespace tg::distributed {

// Training-mode batch norm of x [N, C, H, W] with the statistics of every rank's x; updates the
// running statistics in place. gamma and beta are [C].
Variable sync_batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, Communicator& comm);

// Makes every nn::BatchNorm2d in `model` use sync_batch_norm over `comm` in training (eval uses the
// running statistics as before). `comm` must outlive the model's use.
void convert_sync_batch_norm(nn::Module& model, Communicator& comm);

}  // namespace tg::distributed
