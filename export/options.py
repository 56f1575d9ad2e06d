"""The export options, the precisions, and the errors that name an option.

Library errors name the parameter (``calib must be at least 1``); the CLI
says their flags (``KVError.param``, ``kerasvision.cli.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from kerasvision.errors import KVError, unknown

# Every precision any format takes, in export order (each format takes a subset).
PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
IO_TYPES = ("float32", "uint8", "int8")


class OptionError(KVError):
    """A bad export option; ``template`` holds ``{name}`` where the option is named.

    Attributes:
        param: The ``ExportOptions`` field (or export parameter) at fault.
        template: The message with ``{name}`` for the option's name.
    """

    def __init__(self, param: str, template: str):
        self.template = template
        super().__init__(template.format(name=param), param=param)


@dataclass(frozen=True)
class ExportOptions:
    """Options of the exports; each format's registry entry says which it reads.

    Attributes:
        calib: Calibration images for int8 (drawn from the training split).
        io_type: Input/output type of int8 TFLite files.
        batch: TensorRT optimization profile ``(min, opt, max)`` batch sizes.
        opset: ONNX opset.
        workspace: TensorRT builder workspace in GiB.
        input_channels: Input channels of mobile (TFLite) files: 3 (RGB, what
            MediaPipe and the TFLite Task Library take; a 1-channel model gets
            its RGB-to-gray step inside, ``export/rgb_input.py``) or 1 (a gray
            model keeps its raw gray input). None means 3.
        serving_version: The numeric version folder of a SavedModel
            (``<stem>_saved_model/<version>/``, TF Serving's layout).
    """

    calib: int = 300
    io_type: str = "uint8"
    batch: tuple[int, int, int] = (1, 8, 32)
    opset: int = 17
    workspace: float = 4.0
    input_channels: int | None = None
    serving_version: int = 1

    def validate(self) -> ExportOptions:
        """Returns ``self`` when every option is in range, else raises ``OptionError``."""
        if self.calib < 1:
            raise OptionError("calib", f"{{name}} must be at least 1, got {self.calib}")
        if self.io_type not in IO_TYPES:
            raise OptionError("io_type", str(unknown("{name}", self.io_type, IO_TYPES)))
        low, opt, high = self.batch
        if not 1 <= low <= opt <= high:
            raise OptionError(
                "batch", f"{{name}} needs 1 <= min <= opt <= max, got {low}:{opt}:{high}"
            )
        if not 9 <= self.opset <= 21:
            raise OptionError("opset", f"{{name}} must be in [9, 21], got {self.opset}")
        if self.workspace <= 0:
            raise OptionError("workspace", f"{{name}} must be positive, got {self.workspace}")
        if self.input_channels not in (None, 1, 3):
            raise OptionError(
                "input_channels", f"{{name}} must be 1 or 3, got {self.input_channels}"
            )
        if self.serving_version < 1:
            raise OptionError(
                "serving_version", f"{{name}} must be at least 1, got {self.serving_version}"
            )
        return self

    def changed(self) -> set[str]:
        """The options set to something other than their default."""
        default = ExportOptions()
        return {f.name for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}


def parse_batch(text: str) -> tuple[int, int, int]:
    """``"1:8:32"`` -> ``(1, 8, 32)``; a single number N means ``N:N:N``.

    Args:
        text: ``MIN:OPT:MAX`` or ``N``.

    Returns:
        The three batch sizes.
    """
    parts = text.split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise OptionError("batch", f"{{name}} takes MIN:OPT:MAX integers, got '{text}'") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise OptionError("batch", f"{{name}} takes MIN:OPT:MAX, got '{text}'")
    return values[0], values[1], values[2]
