"""DeepStream ``nvinfer`` classifier configs, written beside every ONNX and engine file.

``<file>.deepstream.txt`` is a Gst-nvinfer config (``[property]`` group, key=value)
and ``<file>.deepstream-labels.txt`` its label file in DeepStream's classifier
format: the labels of one output layer on one line, separated by ``;``. Paths
are relative to the config, which is how nvinfer resolves them. Every value
comes from the model and its metadata:

- ``net-scale-factor`` 1 and ``offsets`` 0: nvinfer computes
  ``y = net-scale-factor * (x - offset)`` on 0-255 pixels, and a kerasvision
  model takes raw 0-255 pixels (its normalization is inside the model);
- ``model-color-format`` 0 (RGB) for 3 channels, 2 (GRAY) for 1;
- ``network-input-order`` 1 (NHWC, the layout of the ONNX input) and
  ``infer-dims`` height;width;channels in that order;
- ``network-mode`` 0/2/1 for fp32/fp16/int8;
- ``batch-size``: the opt size of the TensorRT batch profile;
- ``network-type`` 1 (classifier), ``classifier-threshold`` 1/classes (the
  top class of a softmax always reaches it, so every frame gets a label).
"""

from __future__ import annotations

import configparser
from pathlib import Path

from kerasvision.artifacts import PREPROCESSING
from kerasvision.errors import KVError
from kerasvision.export.format import ExportJob
from kerasvision.fileio import write_text

NETWORK_MODE = {"fp32": 0, "int8": 1, "fp16": 2}
COLOR_FORMAT = {3: 0, 1: 2}  # RGB, GRAY


def config_path(artifact: Path) -> Path:
    """``model-fp16.onnx`` -> ``model-fp16.onnx.deepstream.txt``."""
    return artifact.with_name(artifact.name + ".deepstream.txt")


def labels_path(artifact: Path) -> Path:
    """``model-fp16.onnx`` -> ``model-fp16.onnx.deepstream-labels.txt``."""
    return artifact.with_name(artifact.name + ".deepstream-labels.txt")


def _output_name(onnx_file: Path) -> str:
    import onnx

    return onnx.load(str(onnx_file), load_external_data=False).graph.output[0].name


def deepstream_values(artifact: Path, job: ExportJob) -> dict[str, str]:
    """The ``[property]`` values for ``artifact`` (an ``.onnx`` or ``.engine`` file)."""
    info = job.info
    if info.preprocessing != PREPROCESSING:
        raise KVError(f"{artifact.name}: no DeepStream scale/offsets for '{info.preprocessing}'")
    height, width, channels = (int(d) for d in info.input_shape)
    if channels not in COLOR_FORMAT:
        raise KVError(f"{artifact.name}: nvinfer takes 1 or 3 channels, not {channels}")
    onnx_file = artifact if artifact.suffix == ".onnx" else job.sources["onnx"]
    engine = onnx_file.with_suffix(".engine") if artifact.suffix == ".onnx" else artifact
    return {
        "gpu-id": "0",
        "onnx-file": onnx_file.name,
        "model-engine-file": engine.name,
        "labelfile-path": labels_path(artifact).name,
        "batch-size": str(job.options.batch[1]),
        "net-scale-factor": "1.0",
        "offsets": ";".join(["0.0"] * channels),
        "model-color-format": str(COLOR_FORMAT[channels]),
        "network-input-order": "1",
        "infer-dims": f"{height};{width};{channels}",
        "network-mode": str(NETWORK_MODE[job.precision]),
        "network-type": "1",
        "process-mode": "1",
        "output-blob-names": _output_name(onnx_file),
        "classifier-threshold": f"{1.0 / len(info.labels):.6g}",
        "maintain-aspect-ratio": "0",
        "gie-unique-id": "1",
    }


def write_deepstream(artifact: Path, job: ExportJob) -> list[Path]:
    """Writes the nvinfer config and label file beside ``artifact``; returns both paths."""
    values = deepstream_values(artifact, job)
    lines = [
        f"# DeepStream nvinfer classifier config for {artifact.name}, written by kv export.",
        "# process-mode=1 classifies full frames; set 2 to classify a detector's objects.",
        "[property]",
        *(f"{key}={value}" for key, value in values.items()),
    ]
    write_text(labels_path(artifact), ";".join(job.info.labels) + "\n")
    write_text(config_path(artifact), "\n".join(lines) + "\n")
    return [config_path(artifact), labels_path(artifact)]


def read_deepstream(config: Path) -> dict[str, str]:
    """The ``[property]`` values of an nvinfer config file."""
    parser = configparser.ConfigParser()
    parser.read(config, encoding="utf-8")
    return dict(parser["property"])


def read_deepstream_labels(labels: Path) -> list[str]:
    """The labels of a DeepStream classifier label file (one ``;``-separated line)."""
    return labels.read_text(encoding="utf-8").strip().split(";")
