"""``kv benchmark`` and ``kv eval`` figures on a CIFAR-10 edge run.

Trains a short ``cifar10-edge`` staged run on the CIFAR-10 subset (a resnet20
teacher, then the simple_cnn width-0.5 student distilled from it; epochs cut
down to fit a few minutes on 2 cores) unless ``--run`` names one, then:

1. runs ``kv benchmark RUN --threads 2`` (exports every format this machine
   can build, or reuses them) and prints its table as ``kv`` prints it;
2. runs ``kv eval`` on the int8 TFLite student with 2 threads over the
   held-out images and prints its throughput (images/s, reading and decoding
   the JPEG files included).

    python benchmarks/bench_eval.py [--run RUN_DIR] [--teacher-epochs 15] [--student-epochs 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common import cifar_folder, out_dir


def train_edge_run(out: Path, teacher_epochs: int, student_epochs: int) -> Path:
    """A ``cifar10-edge`` staged run on the CIFAR-10 subset with fewer epochs."""
    from kerasvision.config import build_config
    from kerasvision.training import train

    config = build_config("cifar10-edge", {"dataset": str(cifar_folder()), "out": str(out)})
    config.stages["teacher"]["epochs"] = teacher_epochs
    config.stages["student"]["epochs"] = student_epochs
    result = train(config)
    stages = result.metrics.stages
    for name, metrics in stages.items():
        print(
            f"trained {name}: {metrics.model}, {metrics.params:,} params, "
            f"{metrics.epochs} epochs, val accuracy {metrics.val.accuracy:.4f}"
        )
    return result.run_dir


def kv(*args: str) -> str:
    """Runs the installed ``kv`` command, echoing and returning its stdout."""
    line = "kv " + " ".join(args)
    print(f"\n$ {line}", flush=True)
    done = subprocess.run(
        ["kv", *args], capture_output=True, text=True, check=False, env=_wide_terminal()
    )
    sys.stdout.write(done.stdout)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{line} failed with exit status {done.returncode}")
    return done.stdout


def _wide_terminal() -> dict[str, str]:
    import os

    return {**os.environ, "COLUMNS": "140"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", help="a finished cifar10-edge run directory (skips training)")
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--student-epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    run = Path(args.run) if args.run else None
    if run is None:
        run = train_edge_run(out_dir("eval") / "run", args.teacher_epochs, args.student_epochs)
    threads = str(args.threads)
    kv("benchmark", str(run), "--threads", threads)
    int8 = run / "export" / "student-int8.tflite"
    import json

    result = json.loads(
        subprocess.run(
            ["kv", "eval", str(int8), "--threads", threads, "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    print(
        f"\nkv eval {int8.name} --threads {threads}: {result['images']} images "
        f"({result['dataset']}) in {result['seconds']:.2f} s = "
        f"{result['images_per_s']:,.0f} images/s; accuracy {result['accuracy']:.4f}, "
        f"macro F1 {result['macro']['f1']:.4f}"
    )


if __name__ == "__main__":
    main()
