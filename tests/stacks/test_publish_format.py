"""relay.publish_format (REDIS_PUBLISH_FORMAT), step 2 of the upgrade in
docs/operations.md: a stage sets it in stages.toml; the task gets the variable only when
the stage chose another value than the relay's default, so templates stay as they were."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from contract import settings
from stacks.config import STAGES, RelaySettings, StageConfigError, load_stage_config, validate
from stacks.config.relay_contract import ALL_RELAY_VARIABLES, RELAY_VARIABLES_UNLESS_DEFAULT
from stacks.config.settings_file import read_settings_file
from tests.stacks.conftest import SHIPPED_SETTINGS, Synthesized, load, synthesize

VARIABLE = settings.REDIS_PUBLISH_FORMAT.name


def environment(stage: Synthesized) -> dict[str, Any]:
    (task,) = stage.resources("service", "AWS::ECS::TaskDefinition").values()
    (container,) = task["Properties"]["ContainerDefinitions"]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def compact_settings(tmp: Path) -> Path:
    """The shipped stages.toml with `publish_format = "compact"` in staging's relay table."""
    shipped = SHIPPED_SETTINGS.read_text()
    table = "[stages.staging.relay]\n"
    assert shipped.count(table) == 1
    path = tmp / "stages.toml"
    path.write_text(shipped.replace(table, f'{table}publish_format = "compact"\n'))
    return path


@pytest.fixture(scope="module")
def compact_staging(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    path = compact_settings(tmp_path_factory.mktemp("settings-compact"))
    outdir = tmp_path_factory.mktemp("cdk-staging-compact")
    return synthesize("staging", outdir, {"settingsFile": str(path)}).stage


def test_the_stage_default_is_the_relay_s() -> None:
    field = dataclasses.fields(RelaySettings)
    (publish_format,) = [f for f in field if f.name == "publish_format"]
    assert publish_format.default == settings.REDIS_PUBLISH_FORMAT.default == "frame"
    assert RELAY_VARIABLES_UNLESS_DEFAULT["publish_format"] is settings.REDIS_PUBLISH_FORMAT
    for stage in STAGES:
        assert load(stage).relay.publish_format == "frame"


def test_stages_toml_sets_it_for_one_stage(tmp_path: Path) -> None:
    file = read_settings_file(compact_settings(tmp_path), STAGES)
    assert load_stage_config({"stage": "staging"}, {}, file).relay.publish_format == "compact"
    assert load_stage_config({"stage": "prod"}, {}, file).relay.publish_format == "frame"


def test_a_value_the_relay_would_refuse_fails_synth_with_the_choices() -> None:
    config = load("staging")
    relay = dataclasses.replace(config.relay, publish_format="json")
    with pytest.raises(StageConfigError) as error:
        validate(dataclasses.replace(config, relay=relay))
    message = str(error.value)
    assert "relay.publish_format='json': the relay accepts frame, compact" in message
    assert f"({VARIABLE})" in message
    assert "publish_format" in ALL_RELAY_VARIABLES


def test_the_default_leaves_the_variable_out(assemblies: dict[str, Synthesized]) -> None:
    for stage in assemblies.values():
        assert VARIABLE not in environment(stage), stage.stage


def test_compact_for_a_stage_puts_it_in_the_task_s_environment(
    compact_staging: Synthesized, assemblies: dict[str, Synthesized]
) -> None:
    env = environment(compact_staging)
    assert env[VARIABLE] == "compact"
    # Nothing else about the task changes.
    assert {k: v for k, v in env.items() if k != VARIABLE} == environment(assemblies["staging"])
