#!/usr/bin/python3
"""Writes the APGD reference file (tier 3, DESIGN.md section 5) for tests/attacks/test_apgd_reference.cpp.

The reference algorithm is autoattack's APGDAttack.attack_single_run (l_inf) and the perturb loops of
APGDAttack (APGD-CE, APGD-DLR) and APGDAttack_targeted (APGD-T), github.com/fra31/auto-attack,
autoattack/autopgd_base.py, transcribed here in plain PyTorch from the facts of that code:
- the iterate: z = P(x_k + eta sign(g_k)), x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1})),
  a = 1 on the first step and 0.75 after; P = clamp(min(max(., x - eps), x + eps), 0, 1);
- eta = 2 eps per example, halved at a checkpoint when the number of steps of the last k that raised
  the loss (each compared with the step before) is <= rho k, or when eta was not halved at the
  previous checkpoint and the best loss has not risen since; a halved example restarts from its best
  point and that point's gradient (the momentum term is not reset);
- the periods k: max(int(0.22 n), 1), then k - max(int(0.03 n), 1) each time, at least max(int(0.06 n), 1);
- the losses of the steps are kept in a zero-filled [n_iter, N] table and the oscillation count reads
  row i - c - 1 with Python's negative indexing: at the first checkpoint the first step is compared
  with row -1, a row not yet written, i.e. with 0 (not with the loss at the start point);
- x_best_adv is overwritten by every misclassified iterate (the last one wins); x_best holds the
  highest-loss iterate (strictly greater), with its gradient;
- perturb: only points the model classifies correctly are attacked; after each run the points it
  fooled take its x_best_adv; APGD-T runs once per target, the 2nd .. 10th largest clean logit,
  each time on the points still robust.
Two changes, both so that the two sides can be compared number for number:
- the random start is replaced by a given start point x_init (clamped to [0, 1], as the reference does
  with its x_init); every run (each target) starts from the rows of x_init of the points it attacks;
- everything runs in the inputs' dtype (the reference casts x to float32 and keeps its loss table in
  the default dtype; in float32 this is exactly the reference, in float64 it is the same algorithm
  without float32 roundings), and besides the reference's output (x for points not fooled) the
  file holds taugrad's convention: x_best for points not fooled.

The model is a small MLP (192 -> 32 -> ReLU -> 10) on 3x8x8 inputs; 64 examples, 8 of them with a
wrong label (already misclassified, not attacked). Usage: /usr/bin/python3 tools/apgd_reference.py OUT
"""
import sys

import torch
import torch.nn.functional as F

from safetensors_io import save_safetensors

N, SHAPE, HIDDEN, CLASSES = 64, (3, 8, 8), 32, 10
EPS, N_ITER, RHO, MOMENTUM = 6.0 / 255, 100, 0.75, 0.75
N_WRONG = 8  # examples whose label is not the model's prediction


def mlp(params):
    w1, b1, w2, b2 = params
    return lambda x: F.linear(F.relu(F.linear(x.flatten(1), w1, b1)), w2, b2)


def ce_loss(z, y):
    return F.cross_entropy(z, y, reduction="none")


def dlr_loss(z, y):
    """-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12), pi sorting z in decreasing order."""
    zs, order = z.sort(dim=1)
    rows = torch.arange(z.shape[0])
    y_on_top = (order[:, -1] == y).to(z.dtype)
    best_other = zs[:, -2] * y_on_top + zs[:, -1] * (1 - y_on_top)
    return -(z[rows, y] - best_other) / (zs[:, -1] - zs[:, -3] + 1e-12)


def targeted_dlr_loss(target):
    """-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)."""
    def loss(z, y):
        zs, _ = z.sort(dim=1)
        rows = torch.arange(z.shape[0])
        return -(z[rows, y] - z[rows, target]) / (zs[:, -1] - 0.5 * (zs[:, -3] + zs[:, -4]) + 1e-12)
    return loss


def project(v, x, eps):
    return torch.clamp(torch.min(torch.max(v, x - eps), x + eps), 0.0, 1.0)


def single_run(model, x, y, x_init, loss_fn, eps, n_iter):
    """One l_inf APGD run from x_init: (x_best, fooled, loss_best, x_best_adv)."""
    n = x.shape[0]
    per_example = (n,) + (1,) * (x.dim() - 1)

    def loss_and_grad(xa):
        xa = xa.clone().requires_grad_(True)
        z = model(xa)
        loss = loss_fn(z, y)
        g, = torch.autograd.grad(loss.sum(), [xa])
        return loss.detach(), g.detach(), z.detach().argmax(1)

    x_adv = x_init.clamp(0.0, 1.0)
    x_best, x_best_adv = x_adv.clone(), x_adv.clone()
    losses = torch.zeros(n_iter, n, dtype=x.dtype)  # row i: the loss after step i; row -1 reads 0 early
    loss, grad, pred = loss_and_grad(x_adv)
    fooled = pred != y
    grad_best, loss_best = grad.clone(), loss.clone()

    step = torch.full(per_example, 2.0 * eps, dtype=x.dtype)
    x_old = x_adv.clone()
    k = max(int(0.22 * n_iter), 1)
    k_decrease, k_min = max(int(0.03 * n_iter), 1), max(int(0.06 * n_iter), 1)
    since_check = 0
    loss_best_last_check = loss_best.clone()
    reduced_last_check = torch.ones(n, dtype=torch.bool)

    for i in range(n_iter):
        with torch.no_grad():
            a = MOMENTUM if i > 0 else 1.0
            momentum = x_adv - x_old
            x_old = x_adv.clone()
            z = project(x_adv + step * torch.sign(grad), x, eps)
            x_adv = project(x_adv + (z - x_adv) * a + momentum * (1 - a), x, eps)

        loss, grad, pred = loss_and_grad(x_adv)
        now_fooled = pred != y
        fooled = fooled | now_fooled
        x_best_adv[now_fooled] = x_adv[now_fooled]

        losses[i] = loss
        better = loss > loss_best
        x_best[better] = x_adv[better]
        grad_best[better] = grad[better]
        loss_best[better] = loss[better]

        since_check += 1
        if since_check == k:
            increases = torch.zeros(n, dtype=x.dtype)
            for c in range(k):
                increases += (losses[i - c] > losses[i - c - 1]).to(x.dtype)
            oscillating = increases <= k * RHO
            stalled = ~reduced_last_check & (loss_best_last_check >= loss_best)
            reduce = oscillating | stalled
            reduced_last_check = reduce.clone()
            loss_best_last_check = loss_best.clone()
            step[reduce] /= 2.0
            x_adv[reduce] = x_best[reduce]
            grad[reduce] = grad_best[reduce]
            k = max(k - k_decrease, k_min)
            since_check = 0
    return x_best, fooled, loss_best, x_best_adv


def perturb(model, x, y, x_init, loss, eps, n_iter, n_targets=9):
    """The perturb loop: (x_adv as taugrad returns it, fooled). loss: 'ce', 'dlr' or 'targeted'."""
    with torch.no_grad():
        clean = model(x)
    fooled = clean.argmax(1) != y
    x_adv = x.clone()
    order = clean.sort(dim=1)[1]  # ascending: column -j is the j-th largest logit
    targets = range(2, n_targets + 2) if loss == "targeted" else [None]
    for j in targets:
        idx = (~fooled).nonzero().flatten()
        if idx.numel() == 0:
            break
        if loss == "ce":
            fn = ce_loss
        elif loss == "dlr":
            fn = dlr_loss
        else:
            fn = targeted_dlr_loss(order[idx, -j])
        x_best, run_fooled, _, x_best_adv = single_run(model, x[idx], y[idx], x_init[idx], fn, eps, n_iter)
        # The reference keeps x for points not fooled; taugrad returns their highest-loss point.
        x_adv[idx] = torch.where(run_fooled.view(-1, 1, 1, 1), x_best_adv, x_best)
        fooled[idx] = run_fooled
    return x_adv, fooled


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)  # deterministic reductions, and quick on a shared machine
    gen = torch.Generator().manual_seed(1)
    d = SHAPE[0] * SHAPE[1] * SHAPE[2]
    f64 = torch.float64
    params = [
        (torch.rand(HIDDEN, d, generator=gen, dtype=f64) * 2 - 1) * 3 / d ** 0.5,
        (torch.rand(HIDDEN, generator=gen, dtype=f64) * 2 - 1) * 0.5,
        (torch.rand(CLASSES, HIDDEN, generator=gen, dtype=f64) * 2 - 1) * 3 / HIDDEN ** 0.5,
        (torch.rand(CLASSES, generator=gen, dtype=f64) * 2 - 1) * 0.5,
    ]
    x = torch.rand((N,) + SHAPE, generator=gen, dtype=f64)
    with torch.no_grad():
        y = mlp(params)(x).argmax(1)
    y[:N_WRONG] = (y[:N_WRONG] + 1 + torch.randint(CLASSES - 1, (N_WRONG,), generator=gen)) % CLASSES
    # The start: the reference's random start, x + eps u / max|u|, u uniform in [-1, 1] (not clamped).
    u = torch.rand((N,) + SHAPE, generator=gen, dtype=f64) * 2 - 1
    x_init = x + EPS * u / (u.abs().flatten(1).max(1)[0].view(-1, 1, 1, 1) + 1e-12)

    out = {"model.w1": params[0], "model.b1": params[1], "model.w2": params[2], "model.b2": params[3],
           "x": x, "y": y, "x_init": x_init, "eps": torch.tensor([EPS], dtype=f64),
           "n_iter": torch.tensor([N_ITER])}
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        model = mlp([p.to(dtype) for p in params])
        xd, xi = x.to(dtype), x_init.to(dtype)
        for name, loss, n_targets in (("ce", "ce", 9), ("dlr", "dlr", 9), ("t1", "targeted", 1),
                                      ("t9", "targeted", 9)):
            x_adv, fooled = perturb(model, xd, y, xi, loss, EPS, N_ITER, n_targets)
            out[f"{tag}.{name}.x_adv"] = x_adv
            out[f"{tag}.{name}.fooled"] = fooled.to(torch.uint8)
            print(f"apgd_reference: {tag} {name}: {int(fooled.sum())} of {N} fooled")
    save_safetensors(sys.argv[1], out)
    print(f"apgd_reference: wrote {len(out)} tensors to {sys.argv[1]}")


if __name__ == "__main__":
    main()
