"""The one `artbandit serve` the contract tests of tests/artbandit/serve/ share (a real server in a
subprocess, over HTTP): started by the first test that asks for it, stopped after the package."""

from __future__ import annotations

import pytest

from tests.serve_helpers import Server


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    with Server(tmp_path_factory.mktemp("svc") / "state") as srv:
        yield srv
