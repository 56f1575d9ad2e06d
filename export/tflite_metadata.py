"""Standard TFLite metadata: the ``TFLITE_METADATA`` flatbuffer and its associated files.

``write_metadata`` gives a ``.tflite`` file what MediaPipe Tasks, the TFLite
Task Library and ``MetadataDisplayer`` read:

- a ``TFLITE_METADATA`` entry in the model's ``metadata`` vector, whose buffer
  is a ``ModelMetadata`` flatbuffer (schema ``M001``): model name,
  description, version, author, ``min_parser_version``; the input tensor with
  ``ImageProperties`` and, for float32 and uint8 inputs, ``NormalizationOptions``
  mean 0 std 1 (normalization is inside the model) and the pixel range as
  ``Stats``; the output tensor with ``labels.txt`` as ``TENSOR_AXIS_LABELS``;
- the associated files, ``labels.txt`` and kerasvision's ``metadata.json``
  (``ModelInfo``), in an uncompressed (``ZIP_STORED``) zip appended to the
  flatbuffer: MediaPipe maps the files in place and refuses a compressed zip.

The model flatbuffer is read and rewritten with TensorFlow's generated TFLite
schema (``tensorflow.lite.python.schema_py_generated``, the object API the
converter itself uses to add its ``CONVERSION_METADATA``); the metadata
flatbuffer with ``metadata_schema_py_generated`` (flatc's bindings of the
official schema, the same module MediaPipe ships). ``read_metadata`` reads
both back.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np

from kerasvision.artifacts import TFLITE_ENTRY, ModelInfo
from kerasvision.errors import KVError
from kerasvision.export import metadata_schema_py_generated as meta_fb
from kerasvision.run import LABELS

METADATA_NAME = "TFLITE_METADATA"
LABELS_FILE = LABELS  # the label file travels under the name it has in the run
METADATA_FILE_IDENTIFIER = b"M001"
MODEL_FILE_IDENTIFIER = b"TFL3"
# Every field written here is in schema 1.0.0 (the schema's History lists later
# additions: VOCABULARY, tokenizers, tensor groups, AudioProperties,
# AssociatedFile.version, CustomMetadata), so any metadata parser reads it all.
MIN_PARSER_VERSION = "1.0.0"
PIXEL_RANGE = (0.0, 255.0)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_COLOR_SPACES = {3: meta_fb.ColorSpaceType.RGB, 1: meta_fb.ColorSpaceType.GRAYSCALE}
_COLOR_NAMES = {v: k for k, v in vars(meta_fb.ColorSpaceType).items() if not k.startswith("_")}
_FILE_TYPES = {v: k for k, v in vars(meta_fb.AssociatedFileType).items() if not k.startswith("_")}


def _schema():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated


def _data(source: str | Path | bytes | bytearray) -> bytes:
    return bytes(source) if isinstance(source, bytes | bytearray) else Path(source).read_bytes()


def _model(data: bytes):
    schema = _schema()
    if not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise KVError("not a TFLite flatbuffer (no TFL3 identifier)")
    return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


def _io_tensors(model) -> tuple[Any, Any]:
    if len(model.subgraphs) != 1:
        raise KVError(
            f"an image classifier has one subgraph, this model has {len(model.subgraphs)}"
        )
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise KVError("an image classifier has one input and one output tensor")
    return graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]


def _type_name(tensor_type: int) -> str:
    names = {v: k for k, v in vars(_schema().TensorType).items() if not k.startswith("_")}
    return names.get(tensor_type, str(tensor_type)).lower()


def _pixel_stats(tensor) -> meta_fb.StatsT | None:
    """The range of the input tensor's values for pixels 0-255 (as MediaPipe's writer has it)."""
    kind = _type_name(tensor.type)
    stats = meta_fb.StatsT()
    if kind == "float32":
        stats.min, stats.max = [PIXEL_RANGE[0]], [PIXEL_RANGE[1]]
        return stats
    quant = tensor.quantization
    if quant is None or quant.scale is None or len(quant.scale) != 1:
        return None
    scale, zero = float(quant.scale[0]), int(quant.zeroPoint[0])
    info = np.iinfo(np.dtype(kind))
    stats.min, stats.max = (
        [float(np.clip(np.round(p / scale + zero), info.min, info.max))] for p in PIXEL_RANGE
    )
    return stats


def _input_metadata(tensor, info: ModelInfo) -> meta_fb.TensorMetadataT:
    channels = int(tensor.shape[-1])
    if channels not in _COLOR_SPACES:
        raise KVError(f"the input tensor has {channels} channels; an image has 1 or 3")
    image = meta_fb.ImagePropertiesT()
    image.colorSpace = _COLOR_SPACES[channels]
    content = meta_fb.ContentT()
    content.contentPropertiesType = meta_fb.ContentProperties.ImageProperties
    content.contentProperties = image
    md = meta_fb.TensorMetadataT()
    md.name = "image"
    md.description = info.preprocessing
    md.content = content
    if _type_name(tensor.type) in ("float32", "uint8"):
        norm = meta_fb.NormalizationOptionsT()
        norm.mean, norm.std = [0.0], [1.0]
        unit = meta_fb.ProcessUnitT()
        unit.optionsType = meta_fb.ProcessUnitOptions.NormalizationOptions
        unit.options = norm
        md.processUnits = [unit]
    md.stats = _pixel_stats(tensor)
    return md


def _associated(name: str, description: str, kind: int) -> meta_fb.AssociatedFileT:
    file = meta_fb.AssociatedFileT()
    file.name, file.description, file.type = name, description, kind
    return file


def _output_metadata(info: ModelInfo) -> meta_fb.TensorMetadataT:
    content = meta_fb.ContentT()
    content.contentPropertiesType = meta_fb.ContentProperties.FeatureProperties
    content.contentProperties = meta_fb.FeaturePropertiesT()
    md = meta_fb.TensorMetadataT()
    md.name = "probability"
    md.description = f"Probabilities of the {info.num_classes} classes (softmax)."
    md.content = content
    labels = "Class names, one a line; line i names class i."
    md.associatedFiles = [
        _associated(LABELS_FILE, labels, meta_fb.AssociatedFileType.TENSOR_AXIS_LABELS)
    ]
    return md


def model_metadata(
    tflite_bytes: bytes,
    info: ModelInfo,
    *,
    description: str | None = None,
    version: str = "1",
    author: str = "kerasvision",
) -> meta_fb.ModelMetadataT:
    """The ``ModelMetadata`` object for a classifier file, from its tensors and ``info``.

    Args:
        tflite_bytes: The ``.tflite`` file (its input tensor sets type, channels, stats).
        info: Labels, model name, precision and preprocessing rule.
        description: The model's description. Defaults to None (one built from ``info``).
        version: The model's version. Defaults to ``"1"``.
        author: The model's author. Defaults to ``"kerasvision"``.

    Returns:
        A ``ModelMetadataT`` ready to pack.
    """
    image, _ = _io_tensors(_model(tflite_bytes))
    height, width, channels = (int(d) for d in image.shape[1:])
    colour = "RGB" if channels == 3 else "grayscale"
    graph = meta_fb.SubGraphMetadataT()
    graph.inputTensorMetadata = [_input_metadata(image, info)]
    graph.outputTensorMetadata = [_output_metadata(info)]
    md = meta_fb.ModelMetadataT()
    md.name = info.model or "image classifier"
    md.description = description or (
        f"Classifies a {height}x{width} {colour} image into {info.num_classes} classes "
        f"({info.precision}, {_type_name(image.type)} input)."
    )
    md.version, md.author, md.minParserVersion = version, author, MIN_PARSER_VERSION
    md.subgraphMetadata = [graph]
    md.associatedFiles = [
        _associated(
            TFLITE_ENTRY, "kerasvision ModelInfo (JSON)", meta_fb.AssociatedFileType.UNKNOWN
        )
    ]
    return md


def _pack_metadata(md: meta_fb.ModelMetadataT) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(md.Pack(builder), file_identifier=METADATA_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _with_metadata_buffer(data: bytes, metadata: bytes | None) -> bytes:
    """The model flatbuffer with its ``TFLITE_METADATA`` entry set (or removed for None)."""
    schema = _schema()
    model = _model(data)
    if any(buf.offset > 1 for buf in model.buffers or []):
        raise KVError(
            "a TFLite file with buffers outside the flatbuffer (over 2 GB) is not supported"
        )
    ours = [m.buffer for m in model.metadata or [] if m.name.decode("utf-8") == METADATA_NAME]
    entries = [m for m in model.metadata or [] if m.name.decode("utf-8") != METADATA_NAME]
    for index in ours:  # an earlier TFLITE_METADATA's buffer is emptied, not left behind
        model.buffers[index] = schema.BufferT()
    if metadata is not None:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(metadata, dtype=np.uint8)
        if not ours:
            model.buffers.append(buffer)
        index = ours[0] if ours else len(model.buffers) - 1
        model.buffers[index] = buffer
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, index
        entries.append(entry)
    model.metadata = entries
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=MODEL_FILE_IDENTIFIER)
    return bytes(builder.Output())


def write_metadata(
    tflite_bytes: bytes,
    info: ModelInfo,
    *,
    description: str | None = None,
    version: str = "1",
    author: str = "kerasvision",
) -> bytes:
    """A ``.tflite`` file's bytes with standard metadata and its associated files.

    Any earlier ``TFLITE_METADATA`` entry and appended zip are replaced, so
    writing twice gives the same file.

    Args:
        tflite_bytes: The converter's output (or a file written by this function).
        info: What to record: labels, model name, precision, input rule; it is
            also stored whole as ``metadata.json``.
        description: The model's description. Defaults to None (one built from ``info``).
        version: The model's version. Defaults to ``"1"``.
        author: The model's author. Defaults to ``"kerasvision"``.

    Returns:
        The new file: model flatbuffer, then a ``ZIP_STORED`` zip of
        ``labels.txt`` and ``metadata.json``.

    Raises:
        KVError: For bytes that are not a single-input, single-output TFLite model.
    """
    md = model_metadata(tflite_bytes, info, description=description, version=version, author=author)
    out = io.BytesIO()
    out.write(_with_metadata_buffer(tflite_bytes, _pack_metadata(md)))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, text in (
            (LABELS_FILE, "".join(f"{label}\n" for label in info.labels)),
            (TFLITE_ENTRY, info.to_json()),
        ):
            # A fixed timestamp: the same model and info give the same bytes.
            archive.writestr(zipfile.ZipInfo(name, date_time=ZIP_DATE), text)
    return out.getvalue()


def strip_metadata(tflite_bytes: bytes) -> bytes:
    """The model flatbuffer alone: no ``TFLITE_METADATA`` entry and no appended zip.

    Args:
        tflite_bytes: A ``.tflite`` file's bytes.

    Returns:
        The bare model, as a tool that drops metadata leaves it.
    """
    return _with_metadata_buffer(tflite_bytes, None)


def _decode(value: bytes | str | None) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _floats(values) -> list[float]:
    return [float(v) for v in values]


def _files(files) -> list[dict[str, str]]:
    return [
        {"name": _decode(f.name), "type": _FILE_TYPES.get(f.type, str(f.type))} for f in files or []
    ]


def _tensor_summary(md) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "name": _decode(md.name),
        "description": _decode(md.description),
        "associated_files": _files(md.associatedFiles),
    }
    content = md.content
    if (
        content is not None
        and content.contentPropertiesType == meta_fb.ContentProperties.ImageProperties
    ):
        summary["color_space"] = _COLOR_NAMES.get(content.contentProperties.colorSpace)
    for unit in md.processUnits or []:
        if unit.optionsType == meta_fb.ProcessUnitOptions.NormalizationOptions:
            options = unit.options
            summary["normalization"] = {"mean": _floats(options.mean), "std": _floats(options.std)}
    if md.stats is not None and md.stats.min is not None:
        summary["stats"] = {"min": _floats(md.stats.min), "max": _floats(md.stats.max)}
    return summary


def _metadata_buffer(data: bytes) -> bytes | None:
    schema = _schema()
    if not schema.Model.ModelBufferHasIdentifier(data, 0):
        raise KVError("not a TFLite flatbuffer (no TFL3 identifier)")
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode("utf-8") == METADATA_NAME:
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return None


def _input_type(data: bytes) -> str:
    graph = _schema().Model.GetRootAs(data, 0).Subgraphs(0)
    return _type_name(graph.Tensors(graph.Inputs(0)).Type())


def read_metadata(source: str | Path | bytes) -> dict[str, Any]:
    """The standard metadata of a ``.tflite`` file, as plain data.

    Args:
        source: A ``.tflite`` path or its bytes.

    Returns:
        ``name``, ``description``, ``version``, ``author``,
        ``min_parser_version``, ``input_type`` (the model's input tensor
        type, e.g. ``float32``), ``input`` and ``output`` (each with
        ``name``, ``associated_files``, and for the input ``color_space``,
        ``normalization`` and ``stats``), ``label_files`` (the output's
        ``TENSOR_AXIS_LABELS`` file names), ``associated_files`` (model level)
        and ``zip`` (the appended archive: ``{name: "stored" | "deflated" | ...}``).

    Raises:
        KVError: When the file has no ``TFLITE_METADATA`` or it is not a
            metadata flatbuffer.
    """
    data = _data(source)
    buffer = _metadata_buffer(data)
    if buffer is None:
        raise KVError(f"the model has no {METADATA_NAME} metadata")
    if not meta_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0):
        raise KVError(f"{METADATA_NAME} is not a metadata flatbuffer (no M001 identifier)")
    md = meta_fb.ModelMetadataT.InitFromPackedBuf(bytearray(buffer), 0)
    graph = md.subgraphMetadata[0] if md.subgraphMetadata else meta_fb.SubGraphMetadataT()
    inputs = [_tensor_summary(t) for t in graph.inputTensorMetadata or []]
    outputs = [_tensor_summary(t) for t in graph.outputTensorMetadata or []]
    output = outputs[0] if outputs else {"associated_files": []}
    return {
        "name": _decode(md.name),
        "description": _decode(md.description),
        "version": _decode(md.version),
        "author": _decode(md.author),
        "min_parser_version": _decode(md.minParserVersion),
        "input_type": _input_type(data),
        "input": inputs[0] if inputs else None,
        "output": outputs[0] if outputs else None,
        "label_files": [
            f["name"] for f in output["associated_files"] if f["type"] == "TENSOR_AXIS_LABELS"
        ],
        "associated_files": _files(md.associatedFiles),
        "zip": _zip_entries(data),
    }


def _zip_entries(data: bytes) -> dict[str, str]:
    names = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        return {}
    with zipfile.ZipFile(buffer) as archive:
        return {
            i.filename: names.get(i.compress_type, str(i.compress_type)) for i in archive.infolist()
        }


def read_info(path: Path | io.BytesIO) -> ModelInfo | None:
    """The ``ModelInfo`` in a ``.tflite`` file's appended zip (or its bytes), or None."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        if TFLITE_ENTRY not in archive.namelist():
            return None
        return ModelInfo.from_json(archive.read(TFLITE_ENTRY))
