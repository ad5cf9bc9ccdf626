#!/usr/bin/env python3
"""torch_ref.py - the PyTorch reference for bench_model: the same two models
(LeNet5 batch 16 on 3x32x32, MLP 784-128-128-128-10 batch 64), the same step
(forward + backward + SGD with momentum 0.5, lr 0.005), on ONE thread, timed
the same way (0.3 s warm-up, then windows of a fixed length).

Standalone: repetitions of each model, prints "torch: <tag>_steps_per_s
<median>" lines. With --serve (how bench_model runs it, so that its windows
and ours alternate in one run on a shared machine): warms both models up,
prints "ready", then for each stdin line "TAG SECONDS" runs one window and
prints "TAG WALL_STEPS_PER_S CPU_STEPS_PER_S LOSS" (CPU: steps per second of
this process's CPU time); exits at end of input.
Usage: python3 bench/torch_ref.py [--quick | --serve]
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


class Bench:
    """One model's training step on 8 fixed batches, warmed up."""

    def __init__(self, net, shape, batch):
        torch.manual_seed(3)
        self.nb = 8
        self.xs = [torch.randn(batch, *shape) for _ in range(self.nb)]
        self.ys = [torch.randint(0, 10, (batch,)) for _ in range(self.nb)]
        self.net = net
        self.opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.5)
        self.loss_fn = nn.CrossEntropyLoss()
        self.step = 0
        self.first = self.one()
        self.last = self.first
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 0.3:
            self.one()

    def one(self):
        k = self.step % self.nb
        self.step += 1
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.net(self.xs[k]), self.ys[k])
        loss.backward()
        self.opt.step()
        return loss.item()

    def window(self, seconds):
        """(wall steps/s, CPU steps/s) over one window of ~seconds."""
        n = 0
        s, c = time.perf_counter(), time.process_time()
        while True:
            for _ in range(16):
                self.last = self.one()
                n += 1
            e = time.perf_counter()
            if e - s >= seconds:
                break
        return n / (e - s), n / max(time.process_time() - c, 1e-9)


def models():
    return {"lenet5_b16": Bench(lenet5(3, 10), (3, 32, 32), 16),
            "mlp_b64": Bench(mlp([784, 128, 128, 128, 10]), (1, 28, 28), 64)}


def serve():
    benches = models()
    print(f"torch: config torch {torch.__version__}, threads {torch.get_num_threads()}")
    print("ready", flush=True)
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 2 or parts[0] not in benches:
            print(f"error: bad request {line.strip()!r}", flush=True)
            continue
        b = benches[parts[0]]
        wall, cpu = b.window(float(parts[1]))
        print(f"{parts[0]} {wall:.2f} {cpu:.2f} {b.last:.6f}", flush=True)


def standalone(reps, window):
    print(f"torch: config torch {torch.__version__}, threads {torch.get_num_threads()}")
    for tag, b in models().items():
        rates = [b.window(window)[0] for _ in range(reps)]
        print(f"torch: config {tag}: loss {b.first:.4f} -> {b.last:.4f}, "
              f"spread {min(rates):.1f} .. {max(rates):.1f}")
        print(f"torch: {tag}_steps_per_s {statistics.median(rates):.1f}")
        sys.stdout.flush()


def main():
    torch.set_num_threads(1)
    if "--serve" in sys.argv[1:]:
        serve()
    else:
        quick = "--quick" in sys.argv[1:]
        standalone(*((3, 0.2) if quick else (9, 0.5)))


if __name__ == "__main__":
    main()
