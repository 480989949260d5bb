#!/usr/bin/python3
"""PyTorch twin of bench/bench_ops.cpp: the same ops, shapes, timing rule and JSON lines.

Run with Debian's /usr/bin/python3 (python3-torch). Threads: OMP_NUM_THREADS, else nproc, as the
OpenMP runtime of bench_ops picks them. bench/run_ops.sh runs both and prints the ratio table.
"""
import json
import os
import statistics
import sys
import time

import torch


def resnet20_convs(c, size):
    """(x shape, w shape, stride), padding 1: ResNet-20 at batch 128 on c x size x size inputs."""
    s2 = (size + 1) // 2
    s3 = (s2 + 1) // 2
    return [
        ((128, c, size, size), (16, c, 3, 3), 1),
        ((128, 16, size, size), (16, 16, 3, 3), 1),
        ((128, 16, size, size), (32, 16, 3, 3), 2),
        ((128, 32, s2, s2), (32, 32, 3, 3), 1),
        ((128, 32, s2, s2), (64, 32, 3, 3), 2),
        ((128, 64, s3, s3), (64, 64, 3, 3), 1),
    ]


CONVS = resnet20_convs(3, 32)
CONVS28 = resnet20_convs(1, 28)  # `bench_torch.py conv28`, as `bench_ops conv28`
MATMULS = [(128, 64, 10), (512, 512, 512)]
SOFTMAXES = [(64 * 6 * 197, 197)]  # ViT-S/16 attention: batch 64, 6 heads, 197 tokens
CROSS_ENTROPIES = [(128, 10), (128, 1000)]
LAYER_NORMS = [(64 * 197, 384)]  # ViT-S/16 tokens, width 384
GELUS = [(64 * 65, 768)]  # ViT-Ti/4's MLP hidden: batch 64, 65 tokens, width 4 x 192


# BENCH_CLOCK=cpu: process CPU time (see bench_ops.cpp); else wall time.
CLOCK = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def median_ms(f, budget_s=1.0):
    """Median ms over runs filling about budget_s (at least 5, at most 50), after 2 warm-ups."""
    for _ in range(2):
        f()
    ms = []
    start = CLOCK()
    while len(ms) < 5 or (len(ms) < 50 and CLOCK() - start < budget_s):
        t0 = CLOCK()
        f()
        ms.append((CLOCK() - t0) * 1e3)
    return statistics.median(ms)


def report(op, shape, ms):
    print(json.dumps({"op": op, "shape": shape, "ms": round(ms, 4)}), flush=True)


def dims(s):
    return "[" + ",".join(str(d) for d in s) + "]"


def bench_conv(xs, ws, stride):
    shape = f"x{dims(xs)} w{dims(ws)} s{stride} p1"
    x, w = torch.randn(xs), torch.randn(ws)
    y = torch.nn.functional.conv2d(x, w, stride=stride, padding=1)
    dy = torch.randn(y.shape)
    conv_bwd = torch.ops.aten.convolution_backward  # what autograd calls for conv2d

    def backward(mask):
        return conv_bwd(dy, x, w, None, [stride] * 2, [1, 1], [1, 1], False, [0, 0], 1, mask)

    report("conv2d_fwd", shape, median_ms(lambda: torch.nn.functional.conv2d(x, w, stride=stride, padding=1)))
    report("conv2d_bwd_data", shape, median_ms(lambda: backward([True, False, False])))
    report("conv2d_bwd_filter", shape, median_ms(lambda: backward([False, True, False])))

    def fwd_bwd():
        torch.nn.functional.conv2d(x, w, stride=stride, padding=1)
        backward([True, True, False])

    report("conv2d_fwd_bwd", shape, median_ms(fwd_bwd))


def bench_matmul(m, k, n):
    shape = f"[{m},{k}]x[{k},{n}]"
    x, w, dy = torch.randn(m, k), torch.randn(n, k), torch.randn(m, n)
    report("matmul_fwd", shape, median_ms(lambda: x @ w.t()))

    def fwd_bwd():
        x @ w.t()
        dy @ w
        dy.t() @ x

    report("matmul_fwd_bwd", shape, median_ms(fwd_bwd))


def bench_softmax(rows, cols, log):
    """The forward op and the backward kernel autograd calls (aten._[log_]softmax_backward_data)."""
    shape, op = f"[{rows},{cols}]", "log_softmax" if log else "softmax"
    fwd = torch.log_softmax if log else torch.softmax
    bwd = torch.ops.aten._log_softmax_backward_data if log else torch.ops.aten._softmax_backward_data
    x, dy = torch.randn(rows, cols), torch.randn(rows, cols)
    y = fwd(x, -1)
    report(op + "_fwd", shape, median_ms(lambda: fwd(x, -1)))
    report(op + "_bwd", shape, median_ms(lambda: bwd(dy, y, -1, torch.float32)))


def bench_cross_entropy(rows, classes):
    """Per-sample CE (log_softmax + nll_loss, what F.cross_entropy runs) and its two backward kernels."""
    shape = f"[{rows},{classes}]"
    z, labels = torch.randn(rows, classes), torch.randint(0, classes, (rows,))
    aten = torch.ops.aten
    report("cross_entropy_fwd", shape,
           median_ms(lambda: torch.nn.functional.cross_entropy(z, labels, reduction="none")))

    def fwd_bwd():
        logp = torch.log_softmax(z, -1)
        loss = aten.nll_loss_forward(logp, labels, None, 1, -100)[0]  # reduction 1: mean
        dlogp = aten.nll_loss_backward(torch.ones_like(loss), logp, labels, None, 1, -100, torch.ones(()))
        aten._log_softmax_backward_data(dlogp, logp, -1, torch.float32)

    report("cross_entropy_fwd_bwd", shape, median_ms(fwd_bwd))


def bench_layer_norm(rows, cols):
    shape = f"[{rows},{cols}]"
    x, w, b, dy = torch.randn(rows, cols), torch.randn(cols), torch.randn(cols), torch.randn(rows, cols)
    aten = torch.ops.aten
    _, mean, rstd = aten.native_layer_norm(x, [cols], w, b, 1e-6)
    report("layer_norm_fwd", shape, median_ms(lambda: aten.native_layer_norm(x, [cols], w, b, 1e-6)))
    report("layer_norm_bwd", shape,
           median_ms(lambda: aten.native_layer_norm_backward(dy, x, [cols], mean, rstd, w, b, [True, True, True])))


def bench_gelu(rows, cols):
    """Exact GELU (erf) and the backward kernel autograd calls."""
    shape = f"[{rows},{cols}]"
    x, dy = torch.randn(rows, cols), torch.randn(rows, cols)
    report("gelu_fwd", shape, median_ms(lambda: torch.nn.functional.gelu(x)))
    report("gelu_bwd", shape, median_ms(lambda: torch.ops.aten.gelu_backward(dy, x)))


def main():
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    print(f"bench_torch: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"mkldnn {torch.backends.mkldnn.is_available()}, clock {os.environ.get('BENCH_CLOCK', 'wall')}",
          file=sys.stderr)
    rows_only = sys.argv[1:] == ["rows"]  # as bench_ops: only the row ops
    with torch.no_grad():
        if sys.argv[1:] == ["conv28"]:
            for xs, ws, stride in CONVS28:
                bench_conv(xs, ws, stride)
            return
        if not rows_only:
            for xs, ws, stride in CONVS:
                bench_conv(xs, ws, stride)
            for m, k, n in MATMULS:
                bench_matmul(m, k, n)
        for rows, cols in SOFTMAXES:
            bench_softmax(rows, cols, False)
            bench_softmax(rows, cols, True)
        for rows, classes in CROSS_ENTROPIES:
            bench_cross_entropy(rows, classes)
        for rows, cols in LAYER_NORMS:
            bench_layer_norm(rows, cols)
        for rows, cols in GELUS:
            bench_gelu(rows, cols)


if __name__ == "__main__":
    main()
