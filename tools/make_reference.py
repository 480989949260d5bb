#!/usr/bin/python3
"""Writes the tier-3 reference file (DESIGN.md section 5): weights, inputs and PyTorch's outputs and
gradients for ResNet50 (cifar stem) and ViT-S/16, in safetensors, for tests/nn/test_reference.cpp.

The models are written here in plain PyTorch, layer for layer as torchvision's resnet50 (v1.5: stride
on the 3x3 conv) with the CIFAR stem (3x3 stride-1 conv1, no max pool) and timm's
vit_small_patch16_224 (class token, pre-norm blocks, LayerNorm eps 1e-6, exact GELU), with their
parameter names, so no torchvision or timm is needed. Inputs are pixels in [0, 1]; both models
normalize them first with the CIFAR-10 statistics, as taugrad's models do. Weights and inputs are
float32; the expected outputs and gradients are computed from them in float64 (see record()).

Usage: /usr/bin/python3 tools/make_reference.py OUT.safetensors
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_io import save_safetensors

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
NUM_CLASSES = 10


class Normalize(nn.Module):
    def forward(self, x):
        mean = torch.tensor(CIFAR10_MEAN, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD, dtype=x.dtype).view(1, 3, 1, 1)
        return (x - mean) / std


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNet50Cifar(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
            layers = []
            for b in range(blocks):
                s = stride if b == 0 else 1
                down = None
                if b == 0 and (s != 1 or inplanes != planes * 4):
                    down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, s, bias=False), nn.BatchNorm2d(planes * 4))
                layers.append(Bottleneck(inplanes, planes, s, down))
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(self.normalize(x))))
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViTSmall16(nn.Module):
    def __init__(self, num_classes, image=224, patch=16, dim=384, depth=12, heads=6, hidden=1536):
        super().__init__()
        self.normalize = Normalize()
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (image // patch) ** 2, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(self.normalize(x))
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def randomize_batch_norm(model, gen):
    """Non-trivial running statistics, so eval-mode BN is really checked."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def record(out, prefix, model, x, labels, param_grads):
    """Eval-mode logits, CE at tau 1 and 50, and the input (and some parameter) gradients.

    The weights and inputs are written in float32; the outputs are computed from them in float64 and
    rounded once to float32, so the test measures taugrad's float32 error against the exact values,
    not against PyTorch's own float32 error (its oneDNN convolution backward is off by 2.3e-3 of the
    largest ResNet50 input-gradient entry on a 2026 AMD EPYC, measured against float64; see
    docs/TESTING.md)."""
    model.eval()
    for name, t in model.state_dict().items():
        out[f"{prefix}.param.{name}"] = t.clone()
    out[f"{prefix}.input"] = x
    out[f"{prefix}.labels"] = labels
    model.double()
    for tau in (1, 50):
        xv = x.double().requires_grad_(True)
        model.zero_grad()
        logits = model(xv)
        loss = F.cross_entropy(logits / tau, labels)
        loss.backward()
        out[f"{prefix}.logits"] = logits.detach().float()
        out[f"{prefix}.loss_tau{tau}"] = loss.detach().reshape(1).float()
        out[f"{prefix}.input_grad_tau{tau}"] = xv.grad.float()
        if tau == 1:
            params = dict(model.named_parameters())
            for name in param_grads:
                out[f"{prefix}.grad.{name}"] = params[name].grad.float()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    out = {}
    resnet = ResNet50Cifar(NUM_CLASSES)
    with torch.no_grad():
        randomize_batch_norm(resnet, gen)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    labels = torch.tensor([3, 7])
    record(out, "resnet50_cifar", resnet, x, labels, ["conv1.weight", "layer4.2.conv3.weight", "fc.weight"])
    vit = ViTSmall16(NUM_CLASSES)
    x = torch.rand(2, 3, 224, 224, generator=gen)
    record(out, "vit_small_patch16_224", vit, x, labels, ["patch_embed.proj.weight", "blocks.11.attn.qkv.weight", "head.weight"])
    save_safetensors(sys.argv[1], out)
    print(f"make_reference: wrote {len(out)} tensors to {sys.argv[1]}")


if __name__ == "__main__":
    main()
