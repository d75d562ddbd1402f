"""The unit layer: pure code only (builders, form readers, domain rules, parsers, arithmetic). No server, no
database, no emulator over HTTP: `python -m pytest tests/unit` runs alone in seconds, and `-m unit` selects
these tests in a full run. Opening a network connection here is an error, so nothing slips in by accident."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a unit test opened a network connection: it belongs beside the end-to-end tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
