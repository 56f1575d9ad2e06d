"""The export plan: which ``(format, precision)`` pairs to write, checked before any work.

Everything it reads comes from the registry entries (``registry.FORMATS``):
each format's precisions, the options it takes (and at which precisions),
what it is built from, why it cannot be built here, and why a precision
cannot be made for a given model. Invalid combinations (``saved_model`` at
int8, ``io_type`` without a TFLite int8 export, ...) are refused here.
"""

from __future__ import annotations

from collections.abc import Iterable

from kerasvision.errors import KVError, unknown
from kerasvision.export.engine import tensorrt_missing
from kerasvision.export.format import ModelTraits
from kerasvision.export.options import PRECISIONS, ExportOptions, OptionError, parse_batch
from kerasvision.export.registry import FORMATS

__all__ = [
    "FORMATS",
    "PRECISIONS",
    "ExportOptions",
    "missing",
    "parse_batch",
    "plan_exports",
    "tensorrt_missing",
]


def missing(fmt: str) -> str | None:
    """Why ``fmt`` cannot be built on this machine, or None."""
    return FORMATS[fmt].missing()


def _check_options(plan: list[tuple[str, str]], given: Iterable[str]) -> None:
    for option in sorted(set(given)):
        takers = [(f, p) for f, p in plan if p in FORMATS[f].options.get(option, ())]
        if takers:
            continue
        uses = [
            f"{name} {'/'.join(fmt.options[option])}"
            for name, fmt in FORMATS.items()
            if option in fmt.options
        ]
        raise OptionError(
            option, f"{{name}} applies to {' or '.join(uses)} exports, and none is planned"
        )


def _refusals(
    plan: list[tuple[str, str]], traits: ModelTraits, options: ExportOptions, explicit: bool
) -> tuple[list[tuple[str, str]], list[str]]:
    kept, notes = [], []
    for fmt, precision in plan:
        entry = FORMATS[fmt]
        reason = entry.refuse(precision, traits, options)
        if not reason and entry.after and (entry.after, precision) not in kept:
            reason = f"it is built from the {entry.after} {precision} file, which cannot be made"
        if reason and explicit:
            raise KVError(f"cannot export {fmt} {precision} for this model: {reason}")
        if reason:
            notes.append(f"skipping {fmt} {precision}: {reason}")
        else:
            kept.append((fmt, precision))
    return kept, notes


def plan_exports(
    formats: list[str] | None = None,
    precisions: list[str] | None = None,
    *,
    io_type_given: bool = False,
    options: ExportOptions | None = None,
    options_given: Iterable[str] = (),
    traits: ModelTraits | None = None,
    notes: list[str] | None = None,
) -> list[tuple[str, str]]:
    """The ``(format, precision)`` pairs to export, checked before any work.

    Args:
        formats: Requested formats; None means every format this machine
            can build. Defaults to None.
        precisions: Requested precisions; None means every precision each
            format takes. Defaults to None.
        io_type_given: Whether the caller set ``io_type`` (it needs a TFLite
            int8 export in the plan). Defaults to False.
        options: The export options (for the refusals). Defaults to None
            (``ExportOptions()``).
        options_given: Other options the caller set; each needs a planned
            format that takes it. Defaults to ().
        traits: The model's traits; when given, pairs that cannot be made
            for it are refused (or, without explicit formats, skipped).
            Defaults to None.
        notes: A list that receives a line for each pair skipped. Defaults to None.

    Returns:
        The pairs in export order; a chained format comes after the artifact
        it is built from, which joins the plan if it was not asked for.

    Raises:
        KVError: For unknown names, a requested format this machine cannot
            build, a precision no requested format takes, an option no planned
            format takes, or a pair that cannot be made for this model.
    """
    for name in formats or []:
        if name not in FORMATS:
            raise unknown("export format", name, FORMATS)
    for name in precisions or []:
        if name not in PRECISIONS:
            raise unknown("precision", name, PRECISIONS)
    explicit = formats is not None
    chosen = list(dict.fromkeys(formats)) if explicit else [f for f in FORMATS if not missing(f)]
    for name in chosen if explicit else []:
        reason = missing(name)
        # An engine asked for without TensorRT still gets its ONNX file, then fails
        # with the trtexec line that builds it on the target (engine.export).
        if reason and name != "engine":
            raise KVError(f"cannot export {name} here: {reason}")
    plan = []
    for name in chosen:
        fmt = FORMATS[name]
        wanted = precisions or list(fmt.precisions)
        bad = [p for p in wanted if p not in fmt.precisions]
        if bad and explicit:
            raise KVError(
                f"{name} does not take precision {', '.join(bad)}; it takes "
                f"{', '.join(fmt.precisions)}"
            )
        for precision in (p for p in wanted if p in fmt.precisions):
            if fmt.after and (fmt.after, precision) not in plan:
                plan.append((fmt.after, precision))  # an engine is built from the ONNX file
            plan.append((name, precision))
    plan = list(dict.fromkeys(plan))
    if not plan:
        raise KVError(
            f"no format here takes precision {', '.join(precisions or [])}; "
            f"formats: {', '.join(chosen)}"
        )
    _check_options(plan, {*options_given, *(["io_type"] if io_type_given else [])})
    if traits is not None:
        plan, skipped = _refusals(plan, traits, options or ExportOptions(), explicit)
        if notes is not None:
            notes.extend(skipped)
    return plan
