"""Fixtures of the app tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.app_serving import Server, serve_local


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One app/serve-local for the module's tests, stopped when they are done."""
    with serve_local(tmp_path_factory.mktemp("serve-local")) as running:
        yield running
