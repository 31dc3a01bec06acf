"""Synth snapshots: one per stack per stage, reviewed in diffs. `make snapshots` refreshes.

Asset hashes are normalized, so a change to the relay's code (which changes the image
asset hash) does not churn the infrastructure snapshots.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from stacks.config import STAGES
from tests.stacks.conftest import PARTS, Synthesized

ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")
# cdk-assets destination ids in the pipeline (`<account>-<region>-<hash of the asset>`).
DESTINATION_HASH = re.compile(r"\b(\d{12}-[a-z]{2}(?:-[a-z]+)+-\d)-[0-9a-f]{8}\b")


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    text = ASSET_HASH.sub("<asset-hash>", json.dumps(template))
    return json.loads(DESTINATION_HASH.sub(r"\1-<destination-hash>", text))


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_normalization_hides_only_asset_hashes() -> None:
    image = "cdk-assets:" + "ab12" * 16
    publish = "publish " + "ab12" * 16 + ":111111111111-us-east-1-87ef5d2b"
    assert normalized({"Image": image, "Name": "relay", "Cmd": publish}) == {
        "Image": "cdk-assets:<asset-hash>",
        "Name": "relay",
        "Cmd": "publish <asset-hash>:111111111111-us-east-1-<destination-hash>",
    }


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("stage_name", STAGES)
def test_template_matches_snapshot(
    assemblies: dict[str, Synthesized],
    stage_name: str,
    part: str,
    snapshot_json: SnapshotAssertion,
) -> None:
    assert normalized(assemblies[stage_name].templates[part]) == snapshot_json


@pytest.mark.parametrize("part", PARTS)
def test_cluster_mode_template_matches_snapshot(
    cluster: Synthesized, part: str, snapshot_json: SnapshotAssertion
) -> None:
    assert normalized(cluster.templates[part]) == snapshot_json


def test_pipeline_template_matches_snapshot(
    pipeline: Synthesized, snapshot_json: SnapshotAssertion
) -> None:
    assert normalized(pipeline.templates["pipeline"]) == snapshot_json
