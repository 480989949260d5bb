#!/usr/bin/python3
"""PyTorch twin of bench/bench_step.cpp: the same workloads, models, shapes and timing rule, one JSON line.

  bench_step.py --workload train|pgd20 --model resnet20|resnet50_cifar|vit_small_patch16_224|vit_tiny_patch4_32
                --batch B --channels C --size S --steps N --warmup W --device cpu|cuda
                --precision fp32|bf16 (bf16: autocast to bfloat16, channels_last for the ResNets)
                --init-file F (start from taugrad's weights and batch: bench_step --init-file F)

The models are written out here (no torchvision or timm needed) with the architectures and the
parameter names of nn/models/ (torchvision's and timm's): ResNet-20 (option A, from bench_train.py),
ResNet-50 v1.5 with the CIFAR stem, ViT-S/16 and ViT-Ti/4. Attention uses
F.scaled_dot_product_attention where this PyTorch has it (what a user gets). Prints the median step
time by the wall clock and by the process's CPU time, and loss0, the loss of the untrained model on
the batch (as bench_step.cpp: equal losses on the same --init-file mean the same model).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tools")]
from bench_train import ResNet20  # noqa: E402
from safetensors_io import load_safetensors  # noqa: E402
from make_reference import Block as ReferenceBlock  # noqa: E402


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        cout = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet50Cifar(nn.Module):
    def __init__(self, channels, classes):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)
        self.layers, cin = [], 64
        for stage, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(cin, planes, stride if b == 0 else 1))
                cin = planes * 4
            self.layers.append(nn.Sequential(*layer))
            setattr(self, f"layer{stage + 1}", self.layers[-1])
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for layer in self.layers:
            x = layer(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if hasattr(F, "scaled_dot_product_attention"):
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = torch.softmax(q @ k.transpose(-2, -1) * (d // self.heads) ** -0.5, dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(n, t, d))


class Block(ReferenceBlock):
    """timm's pre-norm block as tools/make_reference.py writes it, with the attention above."""

    def __init__(self, dim, heads, hidden):
        super().__init__(dim, heads, hidden)
        self.attn = Attention(dim, heads)


class ViT(nn.Module):
    def __init__(self, channels, classes, size, patch=16, dim=384, depth=12, heads=6, hidden=1536):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(channels, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (size // patch) ** 2, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def build(name, channels, classes, size):
    if name == "resnet20":
        return ResNet20(channels, classes)
    if name == "resnet50_cifar":
        return ResNet50Cifar(channels, classes)
    if name == "vit_small_patch16_224":
        return ViT(channels, classes, size)
    if name == "vit_tiny_patch4_32":
        return ViT(channels, classes, size, patch=4, dim=192, heads=3, hidden=768)
    raise SystemExit(f"bench_step.py: --model: unknown model '{name}'")


def pgd20(model, x, y, autocast, steps=20):
    """Input gradients only: the caller turns the parameters' requires_grad off."""
    eps, step = 8 / 255, 2 / 255
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        with autocast():
            loss = F.cross_entropy(model(x_adv).float(), y)
        (g,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + step * g.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", default="train", choices=["train", "pgd20"])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--attack-steps", type=int, default=20, help="PGD steps (20; fewer only for a dry run)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--init-file", help="taugrad's initial weights and batch (bench_step --init-file)")
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = build(a.model, a.channels, a.classes, a.size).to(dev)
    x = torch.rand(a.batch, a.channels, a.size, a.size)
    y = torch.randint(0, a.classes, (a.batch,))
    if a.init_file:
        init = load_safetensors(a.init_file)
        x, y = init.pop("input.x"), init.pop("input.y")
        model.load_state_dict(init)
    x, y = x.to(dev), y.to(dev)
    bf16 = a.precision == "bf16"
    if bf16 and a.model.startswith("resnet"):
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    def autocast():
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bf16)

    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train(a.workload == "train")
    loss0 = None
    if a.workload == "pgd20":
        model.requires_grad_(False)
        with torch.no_grad():
            loss0 = F.cross_entropy(model(x).float(), y).item()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times = [], []
    for s in range(a.warmup + a.steps):
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        if a.workload == "train":
            with autocast():
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss0 = loss.item() if loss0 is None else loss0
        else:
            pgd20(model, x, y, autocast, a.attack_steps)
        sync()
        if s >= a.warmup:
            times.append((time.perf_counter() - t0) * 1000)
            cpu_times.append((time.process_time() - c0) * 1000)
    step_ms, cpu_ms = statistics.median(times), statistics.median(cpu_times)
    peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else 0
    print(json.dumps({"framework": "torch", "torch": torch.__version__, "workload": a.workload, "model": a.model,
                      "device": a.device, "precision": a.precision, "batch": a.batch,
                      "input": [a.channels, a.size, a.size], "step_ms": round(step_ms, 3),
                      "images_per_s": round(1000 * a.batch / step_ms, 1), "cpu_ms": round(cpu_ms, 3),
                      "images_per_cpu_s": round(1000 * a.batch / cpu_ms, 1), "threads": torch.get_num_threads(),
                      "loss0": round(loss0, 6), "peak_bytes": peak}))


if __name__ == "__main__":
    main()
