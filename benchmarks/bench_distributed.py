"""Distributed training figures.

Default (CPU): the overhead of ``MirroredStrategy``. The same ``train()`` run
(resnet20 on the CIFAR-10 JPEG folder, same global batch, float32) once on one
device and once mirrored over the CPU split into 2 logical devices, each in a
fresh process; it prints both throughputs (training images/s, median of the
epochs after the first) and their ratio. The two logical devices share the
same cores, so the ratio measures what the strategy costs (splitting batches,
reducing gradients), not a speed-up.

``--gpu-resnet50``: training images/s of ``resnet50`` at 224x224 with
``mixed_float16`` on one GPU, synthetic data already on the device (batch 256,
SGD), optionally with XLA. NVIDIA's published TensorFlow ResNet-50 figure on an
A100 with AMP (and XLA, DALI) is about 3,570 images/s. Without a GPU it prints
a 'no GPU' line and exits 0.

    python benchmarks/bench_distributed.py [--epochs 3] [--model resnet20] [--repeats 1]
    python benchmarks/bench_distributed.py --gpu-resnet50 [--batch 256] [--xla]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time

from common import cifar_folder, out_dir

NVIDIA_A100_AMP = 3570


def one_run(devices: str | None, batch: int, model: str, epochs: int) -> dict:
    """Trains in this process; returns images/s and the distribution of the run."""
    from kerasvision.config import build_config
    from kerasvision.training import train

    overrides = {
        "dataset": str(cifar_folder()),
        "model": model,
        "epochs": epochs,
        "batch_size": batch,
        "mixed_precision": "off",
        "devices": devices,
        "cache": "memory",
        "out": str(out_dir("dist") / "run"),
    }
    metrics = train(build_config(overrides=overrides)).metrics
    return {"images_per_s": metrics.images_per_s, **dataclasses.asdict(metrics.distribution)}


def in_subprocess(devices: str | None, batch: int, model: str, epochs: int) -> dict:
    args = [sys.executable, __file__, "--one", json.dumps([devices, batch, model, epochs])]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_overhead(model: str, epochs: int, batch: int, repeats: int) -> None:
    ones, twos = [], []
    for _ in range(repeats):  # alternated, so a busy spell on the machine hits both
        ones.append(in_subprocess(None, batch, model, epochs))
        twos.append(in_subprocess("cpu:0,cpu:1", batch // 2, model, epochs))
    one = statistics.median(r["images_per_s"] for r in ones)
    two = statistics.median(r["images_per_s"] for r in twos)
    print(
        f"{model}, CIFAR-10 JPEG folder, global batch {batch}, float32, {epochs} epochs per run "
        f"(median images/s of epochs 2-{epochs}), median of {repeats} run(s) each"
    )
    print(f"one device ({ones[0]['strategy']} strategy): {one:.0f} images/s")
    print(
        f"MirroredStrategy, 2 logical CPU devices x {batch // 2}: "
        f"{two:.0f} images/s ({twos[0]['replicas']} replicas)"
    )
    print(f"ratio mirrored / one device: {two / one:.3f}")


def gpu_resnet50(batch: int, steps: int, xla: bool) -> None:
    from kerasvision.backend import keras, tf
    from kerasvision.models import create_model
    from kerasvision.training.distribute import create_strategy

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("no GPU: TensorFlow sees no GPU on this machine; the resnet50 figure needs one")
        return
    keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = create_strategy("gpu:0")
    with strategy.scope():
        model = create_model("resnet50", num_classes=1000, input_shape=(224, 224, 3))
        model.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            loss="categorical_crossentropy",
            jit_compile=xla,
        )
    images = tf.random.uniform((batch, 224, 224, 3), 0, 255, seed=0)
    labels = tf.one_hot(tf.random.uniform((batch,), 0, 1000, tf.int32, seed=0), 1000)
    data = tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(4)

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start

    clock = EpochClock()
    model.fit(data, epochs=1, steps_per_epoch=max(steps // 5, 10), verbose=0)  # warm-up
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[clock])
    rate = batch * steps / clock.seconds
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    print(
        f"resnet50 224x224, mixed_float16, batch {batch}, synthetic data, "
        f"{'XLA' if xla else 'no XLA'}, 1x {name}: {rate:.0f} images/s "
        f"({rate / NVIDIA_A100_AMP:.2f}x NVIDIA's A100 AMP figure of {NVIDIA_A100_AMP})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--batch", type=int, default=None, help="global batch (128; GPU: 256)")
    parser.add_argument("--repeats", type=int, default=1, help="CPU: runs of each, alternated")
    parser.add_argument("--gpu-resnet50", action="store_true")
    parser.add_argument("--steps", type=int, default=100, help="GPU: timed steps")
    parser.add_argument("--xla", action="store_true", help="GPU: compile with XLA")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(*json.loads(args.one))))
    elif args.gpu_resnet50:
        gpu_resnet50(args.batch or 256, args.steps, args.xla)
    else:
        cpu_overhead(args.model, args.epochs, args.batch or 128, args.repeats)


if __name__ == "__main__":
    main()
