"""The committed stage settings file (stages.toml): read, checked, applied to a config.

A platform engineer edits stages.toml; `load_stage_config` lays it over the defaults in
stacks/config/defaults.py, and `-c` context lays over both. Every key of a section is a
field of the matching settings dataclass, so a new setting needs no code here: add the
field (with its default in stacks/config/model.py and its check in stacks/config/) and it
is settable from the file.

A wrong file fails synth with `StageConfigError`, naming the file, the key and the fix.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A settings dataclass (StageConfig, one of its sections, the pipeline's) that a table sets.
SettingsT = TypeVar("SettingsT", bound="DataclassInstance")

DEFAULT_SETTINGS_FILE = "stages.toml"

# [stages.<stage>] keys outside any section: where the stage deploys and who is paged.
STAGE_KEYS = ("account", "region", "alarm_email", "domain_name", "certificate_arn", "tags")
# [stages.<stage>.<section>]: the StageConfig attribute each section sets, field by field.
STAGE_SECTIONS = (
    "network",
    "cache",
    "load_balancer",
    "relay",
    "monitoring",
    "sign_in",
    "waf",
    "api",
    "attachments",
)


class SettingsFileError(ValueError):
    """The settings file is unreadable or holds a key or value that cannot be used."""


@dataclass(frozen=True)
class SettingsFile:
    """The file's contents as plain tables, with the path for error messages."""

    path: Path
    stages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pipeline: Mapping[str, Any] | None = None

    def stage(self, name: str) -> Mapping[str, Any]:
        return self.stages.get(name, {})

    def where(self, *table: str) -> str:
        """`stages.toml [stages.prod.relay]`: how messages point at a table."""
        return f"{self.path.name} [{'.'.join(table)}]"


def read_settings_file(path: Path, known_stages: tuple[str, ...]) -> SettingsFile:
    """Parse `path`; unknown stages or top-level tables are errors, not silently ignored."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsFileError(
            f"{path} does not exist: copy the shipped stages.toml back, or point "
            "-c settingsFile=<path> at yours."
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsFileError(f"{path} is not valid TOML: {error}.") from None
    unknown = sorted(set(data) - {"stages", "pipeline"})
    if unknown:
        raise SettingsFileError(
            f"{path.name}: unknown table(s) {', '.join(unknown)}: use [stages.<stage>] "
            "and [pipeline]."
        )
    stages = data.get("stages", {})
    wrong = sorted(set(stages) - set(known_stages))
    if wrong:
        raise SettingsFileError(
            f"{path.name}: unknown stage(s) {', '.join(wrong)}: name stages "
            f"{', '.join(known_stages)} ([stages.dev] ...)."
        )
    return SettingsFile(path=path, stages=stages, pipeline=data.get("pipeline"))


def apply_table(
    instance: SettingsT, table: Mapping[str, Any], where: str
) -> tuple[SettingsT, list[str]]:
    """`instance` (a settings dataclass) with `table`'s keys set, and the problems found.

    Values are checked against the field's type; a problem names `where`, the key, the
    type expected and an example (the default, written as TOML).
    """
    hints = typing.get_type_hints(type(instance))
    names = [f.name for f in dataclasses.fields(instance)]
    changes: dict[str, Any] = {}
    problems = []
    for key, value in table.items():
        if key not in names:
            problems.append(f"{where} {key}: unknown key; valid keys are {', '.join(names)}.")
            continue
        try:
            changes[key] = coerce(value, hints[key])
        except ValueError as error:
            example = toml_value(getattr(instance, key))
            problems.append(
                f"{where} {key} = {toml_value(value)}: {error}; e.g. {key} = {example}."
            )
    return dataclasses.replace(instance, **changes), problems


def coerce(value: Any, hint: Any) -> Any:
    """`value` as TOML gave it, checked against (and converted to) the type `hint`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        # TOML has no null: an optional setting is either absent or a value of its type.
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(value, inner)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("expected a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("expected a non-empty string in quotes")
        return value.strip()
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError("expected a list in brackets")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(item, args[0]) for item in value)
        if len(value) != len(args):
            raise ValueError(f"expected a list of {len(args)} values")
        return tuple(coerce(item, arg) for item, arg in zip(value, args, strict=True))
    if origin in (Mapping, dict):
        if not isinstance(value, dict):
            raise ValueError("expected a table of key = value")
        return {str(k): coerce(v, args[1]) for k, v in value.items()}
    raise ValueError(f"cannot be set from the file (type {hint})")


def toml_value(value: Any) -> str:
    """`value` written as TOML, for the examples in error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        return '"..."'
    return str(value)
