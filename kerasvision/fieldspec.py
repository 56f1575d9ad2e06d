"""Config fields that describe themselves: one ``Opt`` per field, read by everything else.

A config is a plain dataclass whose fields are ``Annotated`` with their type,
their bounds (``annotated_types.Ge``/``Gt``/``Le``), their choices (a
``Literal`` type) and one :class:`Opt` (help, command-line flags, converter).
From that single description come:

- validation and coercion (:func:`load`): pydantic builds the validator from
  the annotations, so ints become floats where floats are expected, unknown
  keys are rejected and bounds are checked; its errors are turned into one
  ``ConfigError`` line that names the config key;
- the list of fields with their bounds and choices (:func:`spec_fields`),
  which ``kv train`` turns into click options and docs/training.md into its
  option table.

pydantic is imported only when a config is validated, so that importing the
config (and building the ``kv`` command line) stays cheap.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types

from kerasvision.errors import KVError, did_you_mean


class ConfigError(KVError):
    """A bad config value; ``key`` is the config key it concerns (``prune.sparsity``).

    The message is kept as a template with ``{name}`` where the key appears,
    so that the command line can name the option the user typed instead.
    """

    def __init__(self, template: str, key: str):
        self.template = template
        self.key = key
        super().__init__(template.replace("{name}", key), param=key)

    def naming(self, name: str) -> KVError:
        """The same error with ``name`` (e.g. ``--prune``) in place of the key."""
        return KVError(self.template.replace("{name}", name))


@dataclass(frozen=True)
class Opt:
    """What a config field means: its help, its flags and its converter.

    Attributes:
        help: One sentence for ``kv train --help`` and the docs table; text in
            backticks is code (the backticks are dropped on the command line).
        flags: Command-line flags of the field, e.g. ``("-e", "--epochs")``;
            empty for keys set only through ``--set`` or a recipe.
            Defaults to ().
        group: The heading the field is listed under. Defaults to ``""``.
        none: What the default None means, e.g. ``"the model's"``.
            Defaults to None.
        convert: Applied to a value before it is validated, for the YAML
            spellings of a value (``qat: true``, an unquoted ``2:4``).
            Defaults to None.
        check: Called with the validated value; raises KVError when it is
            bad. Defaults to None.
        expect: What a value of the wrong type should have been, in errors.
            Defaults to None (``a number``, ``a whole number`` or ``text``).
        flag_value: The value of a flag given without one (``--qat``).
            Defaults to None (the flag needs a value).
    """

    help: str
    flags: tuple[str, ...] = ()
    group: str = ""
    none: str | None = None
    convert: Callable[[Any], Any] | None = None
    check: Callable[[Any], Any] | None = None
    expect: str | None = None
    flag_value: str | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        schema = handler(source)
        if self.check is not None:
            check = self.check
            schema = core_schema.no_info_after_validator_function(
                lambda value: (check(value), value)[1], schema
            )
        if _base_type(source) in (int, float):
            schema = core_schema.no_info_before_validator_function(_no_bool, schema)
        if self.convert is not None:
            schema = core_schema.no_info_before_validator_function(self.convert, schema)
        return schema


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic reads True as 1; a config number is never a bool
        raise ValueError("a bool is not a number")
    return value


@dataclass(frozen=True)
class SpecField:
    """One field of a config as :func:`spec_fields` lists it.

    Attributes:
        key: Dotted config key (``prune.sparsity``).
        opt: The field's ``Opt``.
        kind: ``int``, ``float``, ``str`` or ``list`` (of ``str``), or ``dict``.
        default: The default value.
        choices: The allowed values of a ``Literal`` field, else None.
        low: Lower bound, or None.
        high: Upper bound, or None.
        low_open: Whether ``low`` itself is excluded.
        optional: Whether None is allowed.
    """

    key: str
    opt: Opt
    kind: type
    default: Any
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    optional: bool = False

    @property
    def range_text(self) -> str:
        """The bounds as docs write them: ``1–100000``, ``(0, 1]``, ``≥ 0``, or ``""``."""
        if self.low is None and self.high is None:
            return ""
        if self.high is None:
            return f"{'>' if self.low_open else '≥'} {self.low:g}"
        if self.low_open:
            return f"({self.low:g}, {self.high:g}]"
        return f"{self.low:g}–{self.high:g}"


def _base_type(annotation: Any) -> Any:
    """``int`` for ``int | None`` and ``Literal[1, 3] | None`` alike; else the type."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if _is_union(annotation) and len(args) == 1:
        annotation = args[0]
    if typing.get_origin(annotation) is Literal:
        return type(typing.get_args(annotation)[0])
    return typing.get_origin(annotation) or annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _section_fields(cls: type) -> dict[str, tuple[Any, tuple, dataclasses.Field]]:
    """``{name: (type, metadata, dataclass field)}`` of a config dataclass."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        meta: tuple = ()
        if typing.get_origin(hint) is typing.Annotated:
            hint, meta = typing.get_args(hint)[0], tuple(hint.__metadata__)
        out[f.name] = (hint, meta, f)
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


@functools.cache
def spec_fields(cls: type, prefix: str = "") -> tuple[SpecField, ...]:
    """Every field of ``cls`` that has an ``Opt``, nested sections flattened in order."""
    out: list[SpecField] = []
    for name, (hint, meta, f) in _section_fields(cls).items():
        if dataclasses.is_dataclass(hint):
            out += spec_fields(hint, f"{prefix}{name}.")
            continue
        opt = next((m for m in meta if isinstance(m, Opt)), None)
        if opt is None:
            continue
        bounds = {type(m): m for m in meta if isinstance(m, annotated_types.BaseMetadata)}
        low = bounds.get(annotated_types.Ge) or bounds.get(annotated_types.Gt)
        high = bounds.get(annotated_types.Le)
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        literal = args[0] if _is_union(hint) and len(args) == 1 else hint
        out.append(
            SpecField(
                key=f"{prefix}{name}",
                opt=opt,
                kind=_base_type(hint),
                default=_default(f),
                choices=typing.get_args(literal) if typing.get_origin(literal) is Literal else None,
                low=None if low is None else getattr(low, "ge", getattr(low, "gt", None)),
                high=None if high is None else high.le,
                low_open=isinstance(low, annotated_types.Gt),
                optional=_is_union(hint) and type(None) in typing.get_args(hint),
            )
        )
    return tuple(out)


@functools.cache
def _adapter(cls: type) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def load(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Validates ``data`` into a ``cls``; raises ConfigError naming the first bad key.

    Args:
        cls: A config dataclass (``Annotated`` fields, ``__pydantic_config__``).
        data: Its keys, nested sections as dicts.
        prefix: Prepended to the keys in errors (``stages.student.``).
            Defaults to ``""``.
    """
    from pydantic import ValidationError

    try:
        return _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise _config_error(cls, exc.errors(include_url=False)[0], prefix) from None


def _config_error(cls: type, error: dict[str, Any], prefix: str) -> ConfigError:
    """One pydantic error as the ConfigError a user reads."""
    loc = [str(p) for p in error["loc"]]
    key = prefix + ".".join(loc)
    kind, value = error["type"], error.get("input")
    section = cls
    for part in loc[:-1]:  # the dataclass that holds the bad key
        hint = _section_fields(section).get(part, (None,))[0] if section else None
        section = hint if dataclasses.is_dataclass(hint) else None
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return ConfigError(f"unknown config key '{{name}}'{_suggest(cls, section, loc)}", key)
    if kind in ("dataclass_type", "dataclass_exact_type", "dict_type"):
        return ConfigError("config key '{name}' must be a mapping", key)
    specs = {f.key: f for f in spec_fields(cls)}
    # The field itself for an error in one of its items (``prune.exclude.1``).
    owner = next(
        (".".join(loc[:n]) for n in range(len(loc), 0, -1) if ".".join(loc[:n]) in specs), None
    )
    spec = specs.get(owner)
    key = prefix + owner if owner else key
    if kind == "literal_error" and spec and spec.choices:
        choices = [str(c) for c in spec.choices]
        if all(isinstance(c, str) for c in spec.choices):
            close = did_you_mean(str(value), choices)
            return ConfigError(
                f"unknown {{name}} '{value}'{close}; choose from: {', '.join(sorted(choices))}",
                key,
            )
        return ConfigError(f"{{name}} must be {error['ctx']['expected']}, got {value!r}", key)
    if kind.startswith(("greater_than", "less_than")) and spec:
        if spec.low_open:
            bounds = f"in ({spec.low:g}, {spec.high:g}]"
        elif spec.high is None:
            bounds = f"at least {spec.low:g}"
        else:
            bounds = f"between {spec.low:g} and {spec.high:g}"
        return ConfigError(f"{{name}} must be {bounds}, got {value:g}", key)
    expect = spec.opt.expect if spec and spec.opt.expect else None
    if expect is None and kind == "int_from_float":
        expect = "a whole number"
    elif expect is None and kind.startswith(("int_", "float_")):
        expect = "a number"
    elif expect is None and kind == "value_error" and spec and spec.kind in (int, float):
        expect = "a number"  # a bool (_no_bool)
    if expect is None:
        return ConfigError(f"{{name}}: {error['msg'].lower()}, got {value!r}", key)
    return ConfigError(f"{{name}} must be {expect}, got {value!r}", key)


def _suggest(cls: type, section: type | None, loc: list[str]) -> str:
    """``" (did you mean 'x'?)"`` for an unknown key: a key of its section, or a nested one."""
    word = loc[-1]
    if len(loc) == 1:  # a nested key at the top level: mixup for augment.mixup
        for f in spec_fields(cls):
            if f.key.endswith(f".{word}") or f.key.replace(".", "_") == word:
                return f" (did you mean '{f.key}'?)"
    return did_you_mean(word, list(_section_fields(section)) if section else [])
