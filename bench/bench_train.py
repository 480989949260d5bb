#!/usr/bin/python3
"""PyTorch side of bench/run_train.sh: the same training step as bench/bench_train.cpp (ResNet-20,
option-A shortcuts, as nn/models/resnet.cpp builds it; SGD momentum 0.9, wd 5e-4), median step time.
Usage: bench_train.py [model] [batch] [channels] [size] [steps]  (model: resnet20)"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlockA(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.stride != 1 or self.pad:  # option A: subsample, zero-pad the channels
            short = F.avg_pool2d(x, 1, self.stride) if self.stride != 1 else x
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad // 2))
        return F.relu(out + short)


class ResNet20(nn.Module):
    def __init__(self, channels, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for stage, (cout, stride) in enumerate([(16, 1), (32, 2), (64, 2)]):  # torchvision's names: layer1..3
            blocks = []
            for b in range(3):
                blocks.append(BasicBlockA(cin, cout, stride if b == 0 else 1))
                cin = cout
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x))))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    args = sys.argv[1:]
    model_name = args[0] if args else "resnet20"
    batch, channels, size, steps = (int(a) for a in (args[1:] + ["128", "1", "28", "20"][len(args[1:]):])[:4])
    assert model_name == "resnet20", "bench_train.py knows resnet20"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    model = ResNet20(channels)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(batch, channels, size, size)
    y = torch.randint(0, 10, (batch,))
    model.train()
    times = []
    for s in range(steps + 3):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        if s >= 3:
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"framework": "torch", "model": model_name, "batch": batch, "input": [channels, size, size],
                      "step_ms": round(median, 2), "images_per_s": round(1000 * batch / median, 1)}))


if __name__ == "__main__":
    main()
