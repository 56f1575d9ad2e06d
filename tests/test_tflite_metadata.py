"""Standard TFLite metadata (``kerasvision.export.tflite_metadata``)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from conftest import export_file, random_batch, small_cnn

from kerasvision.artifact import read_info
from kerasvision.artifacts import ModelInfo
from kerasvision.errors import KVError
from kerasvision.export.tflite import to_tflite
from kerasvision.export.tflite_metadata import (
    METADATA_NAME,
    read_metadata,
    strip_metadata,
    write_metadata,
)

LABELS = ["ant", "bee", "cat", "dog"]


@pytest.fixture(scope="module")
def rgb_fp32() -> bytes:
    return to_tflite(small_cnn(), "fp32")


@pytest.fixture(scope="module")
def rgb_int8() -> bytes:
    return to_tflite(small_cnn(), "int8", calibration=random_batch(32)[0], io_type="uint8")


def _info(**changes) -> ModelInfo:
    info = ModelInfo(labels=LABELS, input_shape=[12, 12, 3], format="tflite", model="simple_cnn")
    return info.replace(**changes)


def _run(data: bytes, images: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    results = []
    for image in images:
        interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"])[0])
    return np.array(results)


def test_a_float_file_gets_rgb_image_properties_normalization_and_the_label_file(rgb_fp32):
    meta = read_metadata(write_metadata(rgb_fp32, _info()))
    assert meta["name"] == "simple_cnn"
    assert meta["author"] == "kerasvision" and meta["version"] and meta["description"]
    assert meta["min_parser_version"] == "1.0.0"
    assert meta["input_type"] == "float32"
    assert meta["input"]["color_space"] == "RGB"
    assert meta["input"]["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert meta["input"]["stats"] == {"min": [0.0], "max": [255.0]}
    assert meta["label_files"] == ["labels.txt"]
    assert [f["name"] for f in meta["associated_files"]] == ["metadata.json"]


def test_mediapipes_generated_schema_reads_the_same_metadata(rgb_fp32):
    """An independent reader: ai-edge-litert's model schema, MediaPipe's metadata schema."""
    pytest.importorskip("mediapipe")
    from ai_edge_litert import schema_py_generated as model_fb
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta_fb

    data = write_metadata(rgb_fp32, _info())
    model = model_fb.Model.GetRootAs(data, 0)
    entries = {
        model.Metadata(i).Name().decode(): model.Metadata(i) for i in range(model.MetadataLength())
    }
    buffer = model.Buffers(entries[METADATA_NAME].Buffer()).DataAsNumpy().tobytes()
    assert meta_fb.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
    md = meta_fb.ModelMetadata.GetRootAs(buffer, 0)
    image = md.SubgraphMetadata(0).InputTensorMetadata(0)
    assert image.Content().ContentPropertiesType() == meta_fb.ContentProperties.ImageProperties
    unit = image.ProcessUnits(0)
    assert unit.OptionsType() == meta_fb.ProcessUnitOptions.NormalizationOptions
    labels = md.SubgraphMetadata(0).OutputTensorMetadata(0).AssociatedFiles(0)
    assert labels.Name() == b"labels.txt"
    assert labels.Type() == meta_fb.AssociatedFileType.TENSOR_AXIS_LABELS
    assert md.MinParserVersion() == b"1.0.0"


def test_associated_files_are_stored_uncompressed_and_read_info_still_reads_them(
    rgb_fp32, tmp_path
):
    data = write_metadata(rgb_fp32, _info(precision="fp32"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {i.filename: i.compress_type for i in archive.infolist()}
        assert archive.read("labels.txt").decode().splitlines() == LABELS
    assert entries == {"labels.txt": zipfile.ZIP_STORED, "metadata.json": zipfile.ZIP_STORED}
    path = tmp_path / "m.tflite"
    path.write_bytes(data)
    assert read_info(path) == _info(precision="fp32")


def test_the_rewritten_model_computes_exactly_what_the_converter_wrote(rgb_fp32):
    images = random_batch(8)[0]
    written = write_metadata(rgb_fp32, _info())
    np.testing.assert_array_equal(_run(written, images), _run(rgb_fp32, images))
    np.testing.assert_array_equal(_run(strip_metadata(written), images), _run(rgb_fp32, images))


def test_writing_twice_gives_the_same_file_and_keeps_the_converters_metadata(rgb_fp32):
    from tensorflow.lite.python import schema_py_generated as schema

    once = write_metadata(rgb_fp32, _info())
    assert write_metadata(once, _info()) == once
    model = schema.Model.GetRootAs(once, 0)
    names = [model.Metadata(i).Name().decode() for i in range(model.MetadataLength())]
    assert names.count(METADATA_NAME) == 1
    assert "min_runtime_version" in names


def test_a_uint8_input_records_the_pixel_range_its_bytes_take(rgb_int8):
    meta = read_metadata(write_metadata(rgb_int8, _info(precision="int8", input_dtype="uint8")))
    assert meta["input_type"] == "uint8"
    assert meta["input"]["stats"] == {"min": [0.0], "max": [255.0]}
    assert meta["input"]["normalization"] == {"mean": [0.0], "std": [1.0]}


def test_a_one_channel_input_is_recorded_as_grayscale():
    from kerasvision.backend import keras
    from kerasvision.models import create_model

    keras.utils.set_random_seed(0)
    model = create_model("tiny_cnn", num_classes=4, input_shape=(8, 8, 1))
    data = write_metadata(to_tflite(model, "fp32"), _info(input_shape=[8, 8, 1]))
    assert read_metadata(data)["input"]["color_space"] == "GRAYSCALE"


def test_a_stripped_file_has_no_metadata_and_the_reader_says_so(rgb_fp32):
    stripped = strip_metadata(write_metadata(rgb_fp32, _info()))
    with pytest.raises(KVError, match="no TFLITE_METADATA"):
        read_metadata(stripped)
    assert not zipfile.is_zipfile(io.BytesIO(stripped))


def test_bytes_that_are_not_a_tflite_model_are_refused():
    with pytest.raises(KVError, match="not a TFLite flatbuffer"):
        write_metadata(b"PK\x03\x04" + bytes(64), _info())


def test_export_tflite_writes_the_standard_metadata(tmp_path):
    path = export_file(small_cnn(), tmp_path / "m-fp32.tflite", precision="fp32", info=_info())
    meta = read_metadata(path)
    assert meta["label_files"] == ["labels.txt"]
    assert meta["zip"] == {"labels.txt": "stored", "metadata.json": "stored"}
    assert read_info(path).precision == "fp32"
