"""Flow configuration: pydantic schemas, YAML files and dotted ``--set`` overrides.

Every flow's config is a :class:`FlowConfig` subclass whose defaults run. Validation errors are
turned into one :class:`ConfigError` whose message names the offending key and what is allowed,
so the CLI can exit with code 2 before anything starts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError


class ConfigError(ValueError):
    """An invalid configuration or usage; the message names the key and what is allowed."""


def _existing_file(path: str | None) -> str | None:
    if path is not None and not Path(path).is_file():
        raise ValueError("file does not exist")
    return path


ExistingFile = Annotated[str | None, AfterValidator(_existing_file)]
"""A config value naming a file that must exist (e.g. ``resume_from``), or None."""


class FlowConfig(BaseModel):
    """Base class of every flow's configuration: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Overrides that turn the default computation into its seconds-to-a-minute variant (--quick).
    quick_overrides: ClassVar[dict[str, Any]] = {}


def parse_override(assignment: str) -> tuple[list[str], Any]:
    """Split ``'a.b=value'`` into (``['a', 'b']``, value parsed as YAML)."""
    key, sep, raw = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"{key}: value {raw!r} is not valid YAML ({err.problem})") from None
    return key.split("."), value


def set_dotted(tree: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """Return a copy of ``tree`` with ``tree[path[0]][path[1]]... = value``."""
    updated = copy.deepcopy(tree)
    node = updated
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value
    return updated


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of config keys; an empty file is an empty mapping."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {str(file)!r} does not exist")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(file)!r} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(file)!r} must hold a mapping of keys, not {data!r}")
    return data


def describe_validation_error(schema: type[FlowConfig], err: ValidationError) -> str:
    """One readable line per problem: ``key: what is wrong (allowed ...)``."""
    lines = []
    allowed = ", ".join(schema.model_fields)
    for problem in err.errors():
        key = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key; allowed keys: {allowed}")
        elif not key:
            # Cross-key checks (model validators) put the key at the start of their message.
            lines.append(message)
        else:
            lines.append(f"{key}: {message} (got {problem.get('input')!r})")
    return "; ".join(lines)


def build_config(
    schema: type[FlowConfig],
    base: Mapping[str, Any] | None = None,
    overrides: Iterable[str] = (),
    quick: bool = False,
) -> FlowConfig:
    """Defaults, then ``--quick`` overrides, then the YAML ``base``, then ``--set`` overrides."""
    values: dict[str, Any] = dict(schema.quick_overrides) if quick else {}
    values.update(base or {})
    for assignment in overrides:
        path, value = parse_override(assignment)
        values = set_dotted(values, path, value)
    return validate_config(schema, values)


def validate_config(schema: type[FlowConfig], values: Mapping[str, Any]) -> FlowConfig:
    """Validate ``values`` against ``schema`` or raise :class:`ConfigError`."""
    try:
        return schema.model_validate(dict(values))
    except ValidationError as err:
        raise ConfigError(describe_validation_error(schema, err)) from None


def flatten_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys (MLflow params are flat)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat
