#!/usr/bin/env python3
"""torch_ref.py - the PyTorch reference for bench_model: the same two models
(LeNet5 batch 16 on 3x32x32, MLP 784-128-128-128-10 batch 64), the same step
(forward + backward + SGD with momentum 0.5, lr 0.005), on ONE thread, timed
the same way (0.3 s warm-up, then repetitions of a fixed window, median).

Prints "torch: <tag>_steps_per_s <median>" lines that bench_model parses.
Usage: python3 bench/torch_ref.py [--quick]
"""
import statistics
import sys
import time

import torch
import torch.nn as nn


def lenet5(c, classes):
    return nn.Sequential(
        nn.Conv2d(c, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, classes))


def mlp(dims):
    layers = [nn.Flatten()]
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i + 2 < len(dims):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def bench(tag, net, shape, batch, reps, window):
    torch.manual_seed(3)
    nb = 8
    xs = [torch.randn(batch, *shape) for _ in range(nb)]
    ys = [torch.randint(0, 10, (batch,)) for _ in range(nb)]
    opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.5)
    loss_fn = nn.CrossEntropyLoss()
    step = [0]

    def one():
        k = step[0] % nb
        step[0] += 1
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xs[k]), ys[k])
        loss.backward()
        opt.step()
        return loss.item()

    first = one()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        one()
    rates = []
    for _ in range(reps):
        n = 0
        s = time.perf_counter()
        while True:
            for _ in range(16):
                last = one()
                n += 1
            e = time.perf_counter()
            if e - s >= window:
                break
        rates.append(n / (e - s))
    print(f"torch: config {tag}: loss {first:.4f} -> {last:.4f}, "
          f"spread {min(rates):.1f} .. {max(rates):.1f}")
    print(f"torch: {tag}_steps_per_s {statistics.median(rates):.1f}")
    sys.stdout.flush()


def main():
    quick = "--quick" in sys.argv[1:]
    reps, window = (3, 0.2) if quick else (9, 0.5)
    torch.set_num_threads(1)
    print(f"torch: config torch {torch.__version__}, threads {torch.get_num_threads()}")
    bench("lenet5_b16", lenet5(3, 10), (3, 32, 32), 16, reps, window)
    bench("mlp_b64", mlp([784, 128, 128, 128, 10]), (1, 28, 28), 64, reps, window)


if __name__ == "__main__":
    main()
