"""Settings files (`--config FILE.yaml`): the options and component parameters of score, select, eval, distill.

One file may hold the settings of a whole study, one section per command::

    score:
      input: data.jsonl
      scorer: [likelihood, compression]
      model: HuggingFaceTB/SmolLM2-135M
      out: scores/
      params:
        likelihood.stride: 256        # the same NAME=VALUE as -p
    select:
      by: nll_mean
      strategy: stratified
      keep: 0.3
      params: {strata: 20}
    eval:
      task: lm
      params:
        lm: {n_layer: 4, epochs: 3}   # nested mappings and dotted names mean the same

Keys are the commands' long option names (`text-field` or `text_field`); flags given on the command line
override the file. A score directory's manifest and an eval's results.json record the resolved settings under
`settings`, in this same format, so `--config scores/manifest.json` repeats a run from its own record (JSON is YAML).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thresher.components import Assignment, assignments_from_mapping
from thresher.errors import OptionError

COMMANDS = ("score", "select", "eval", "distill")
PARAMS_KEY = "params"
RECORD_KEY = "settings"  # where manifests and results.json keep the resolved settings


@dataclass(frozen=True)
class CommandSettings:
    """One command's section of a settings file: option values and parameter assignments."""

    options: dict[str, Any] = field(default_factory=dict)
    params: list[Assignment] = field(default_factory=list)


def load_settings(path: str | Path, command: str, allowed: set[str]) -> CommandSettings:
    """The `command` section of the settings file at `path`, its option names checked against `allowed`.

    A file without that section gives empty settings (a study's file may hold only some commands); a file that
    is not a mapping of known sections, or an option the command does not have, is an `OptionError` naming the
    file and the key.
    """
    document = _read(Path(path))
    section = document.get(command)
    if section is None:
        return CommandSettings()
    if not isinstance(section, Mapping):
        raise OptionError(f"{path}: {command}: expected a mapping of options, got {type(section).__name__}")
    options: dict[str, Any] = {}
    params: list[Assignment] = []
    for key, value in section.items():
        name = str(key).replace("-", "_")
        if name == PARAMS_KEY:
            if not isinstance(value, Mapping):
                raise OptionError(f"{path}: {command}.params: expected a mapping of NAME: VALUE")
            params = assignments_from_mapping(value, f"{path}: {command}.params")
            continue
        if name not in allowed:
            known = ", ".join(sorted(option.replace("_", "-") for option in allowed))
            raise OptionError(f"{path}: {command}.{key}: `thresher {command}` has no such option; options: {known}")
        options[name] = value
    return CommandSettings(options, params)


def _read(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OptionError(f"{path}: settings file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise OptionError(f"{path}: cannot read the settings file ({error})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise OptionError(f"{path}{where}: not valid YAML ({problem})") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise OptionError(f"{path}: expected a mapping with sections {', '.join(COMMANDS)}")
    if RECORD_KEY in document and isinstance(document[RECORD_KEY], Mapping):
        document = document[RECORD_KEY]  # a manifest or results.json: its record of the settings
    unknown = [str(key) for key in document if key not in COMMANDS]
    if unknown:
        raise OptionError(f"{path}: unknown section {unknown[0]!r}; sections: {', '.join(COMMANDS)}")
    return dict(document)


def settings_record(options: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One command's resolved settings in the settings-file format: options, then `params` per component."""
    record = {name: _plain(value) for name, value in options.items() if value is not None}
    if params:
        record[PARAMS_KEY] = {label: dict(values) for label, values in params.items()}
    return record


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
