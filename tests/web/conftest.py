"""Browser fixtures: one Chromium per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.browser import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        with chromium() as instance:
            yield instance
    except RuntimeError as exc:
        pytest.fail(str(exc))
