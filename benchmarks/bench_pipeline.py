"""Input-pipeline efficiency: ``kv train`` on the JPEG folder vs. in-memory tensors.

Both sides train the recipe's network (``--recipe``, default ``cifar10-fast``:
airbench) with the same optimizer and batch size. The
kv side is the real ``train()`` path: JPEG decode, cache, shuffle, batch,
augmentation (the recipe's), prefetch; the "no augmentation" run also turns
off precise BN, so that it measures the pipeline alone, while the recipe run
pays for everything the recipe does (precise BN, weight averaging).
The baseline fits the already-decoded images as one tensor (no augmentation,
Keras' own in-memory shuffling). Throughput counts training steps only
(validation excluded) and takes the median of the epochs after the first.
Target: ratio >= 0.95. The script prints the ratio without augmentation (the
pipeline alone) and with the recipe's augmentation (the pipeline plus the
CPU work of augmenting, which shares the cores with training).

    python benchmarks/bench_pipeline.py [--epochs 6] [--recipe cifar10-resnet20]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import numpy as np
from common import cifar_folder, out_dir

from kerasvision.config import AugmentConfig, build_config
from kerasvision.training import train
from kerasvision.training.callbacks import Throughput
from kerasvision.training.fitting import compile_model
from kerasvision.training.plan import Phase
from kerasvision.training.precision import setup_precision
from kerasvision.training.trainer import build_model, load_data
from kerasvision.training.whitening import whiten_first_conv


def in_memory_images_per_s(config, epochs: int) -> float:
    """Throughput of ``fit`` on the training images decoded once into one tensor."""
    setup_precision(config)  # the same dtype policy as the kv run
    plain = load_data(dataclasses.replace(config, augment=AugmentConfig("none", translate=0.0)))
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in plain.train], strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    model = build_model(config, plain)
    if config.whiten:  # the same network: kv's whitened first conv trains frozen
        whiten_first_conv(model, plain.train)
    steps = int(np.ceil(len(x) / config.batch_size))
    compile_model(model, config, steps, Phase("train", 0, epochs, 1.0, False))
    history = model.fit(
        x, y, batch_size=config.batch_size, epochs=epochs, verbose=0, callbacks=[Throughput(len(x))]
    )
    return statistics.median(history.history["images_per_s"][1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--recipe", default="cifar10-fast")
    args = parser.parse_args()
    folder = cifar_folder()
    config = build_config(
        args.recipe,
        {"dataset": str(folder), "epochs": args.epochs, "out": str(out_dir("pipe") / "run")},
    )
    plain = dataclasses.replace(
        config,
        augment=AugmentConfig("none", translate=0.0),
        precise_bn=0,
        out=str(out_dir("pipe") / "run"),
    )
    kv_plain = train(plain).metrics.images_per_s
    kv_aug = train(config).metrics.images_per_s
    memory = in_memory_images_per_s(config, args.epochs)
    print(f"{args.recipe} ({config.model}), in-memory tensor fit: {memory:.0f} images/s")
    for name, value in (("no augmentation", kv_plain), ("recipe augmentation", kv_aug)):
        ratio = value / memory
        print(
            f"kv train on the JPEG folder, {name}: {value:.0f} images/s, ratio {ratio:.3f} "
            f"(target >= 0.95: {'PASS' if ratio >= 0.95 else 'FAIL'})"
        )


if __name__ == "__main__":
    main()
