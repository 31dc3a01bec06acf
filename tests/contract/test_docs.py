"""The README's settings table and the operations guide's metrics table say what the
contract says: same names, defaults, bounds and choices; same metric names."""

from __future__ import annotations

import re
from pathlib import Path

from contract import metrics, settings
from contract.settings import ChoiceSetting, FloatSetting, IntSetting, Setting

REPO = Path(__file__).resolve().parents[2]
# Unset by default; the relay works the value out when it starts (documented as such).
WORKED_OUT = {"ALB_PUBLIC_KEY_URL", "METRICS_TASK_ID"}
# Set by ECS, not by people: the README names it where it matters, not as a row.
NOT_A_ROW = {"ECS_CONTAINER_METADATA_URI_V4"}
BACKTICKED = re.compile(r"`([^`]+)`")
RANGE = re.compile(r"\(([0-9.]+)\.\.([0-9.]+)\)")


def settings_rows() -> dict[str, tuple[str, str]]:
    """variable -> (its default as written, the meaning cell) from the README table."""
    readme = (REPO / "README.md").read_text()
    table = readme.split("### Settings", 1)[1].split("\n\n")[2]
    rows: dict[str, tuple[str, str]] = {}
    for line in table.splitlines()[2:]:
        names_cell, default_cell, meaning = (c.strip() for c in line.strip("|").split("|", 2))
        names = BACKTICKED.findall(names_cell)
        defaults = BACKTICKED.findall(default_cell) or ["unset"] * len(names)
        if len(defaults) != len(names):
            defaults = [default_cell] * len(names)  # e.g. a default worked out at start
        for name, default in zip(names, defaults, strict=True):
            rows[name] = (default, meaning)
    return rows


def written_default(setting: Setting) -> str:
    if setting.default is None:
        return "unset"
    if isinstance(setting, IntSetting):
        return setting.env_value(setting.default)
    if isinstance(setting, FloatSetting):
        return setting.env_value(setting.default)
    return str(setting.default).lower() if isinstance(setting.default, bool) else setting.default


def test_every_setting_has_a_row_and_every_row_a_setting() -> None:
    rows = settings_rows()
    assert set(rows) == {s.name for s in settings.ALL} - NOT_A_ROW
    readme = (REPO / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in NOT_A_ROW)


def test_the_readme_defaults_are_the_contracts() -> None:
    rows = settings_rows()
    for setting in settings.ALL:
        if setting.name in NOT_A_ROW | WORKED_OUT:
            continue
        assert rows[setting.name][0] == written_default(setting), setting.name


def test_the_readme_bounds_and_choices_are_the_contracts() -> None:
    rows = settings_rows()
    for name, (_, meaning) in rows.items():
        setting = settings.BY_NAME[name]
        for low, high in RANGE.findall(meaning):
            assert isinstance(setting, IntSetting | FloatSetting), name
            assert (float(low), float(high)) == (setting.low, setting.high), name
        if isinstance(setting, ChoiceSetting):
            assert all(f"`{choice}`" in meaning for choice in setting.choices), name


def test_the_operations_guide_lists_every_metric_under_its_names() -> None:
    guide = (REPO / "docs" / "operations.md").read_text()
    table = guide.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| `")]
    prometheus = {BACKTICKED.findall(p)[0].split("{")[0] for p, _ in cells}
    emf = {name for _, e in cells for name in BACKTICKED.findall(e)}
    for definition in metrics.DEFINITIONS:
        suffix = "_total" if definition.kind == "counter" else ""
        assert definition.prometheus + suffix in prometheus, definition.prometheus
    for metric in metrics.EMF_METRICS:
        stem = re.sub(r"(P50|P99|Max)$", "", metric.name)
        assert metric.name in emf or f"{stem}P50/P99/Max" in emf, metric.name
    prose = " ".join(table.split())
    per_task = re.search(r"`ServiceName`, and (.*?) also with `ServiceName, TaskId`", prose)
    assert per_task is not None
    assert BACKTICKED.findall(per_task[1]) == [m.name for m in metrics.PER_TASK_METRICS]
