"""The project's own tests never write into the user's results history: not the
tests, and not what runs before a test's own fixtures (a module-scoped fixture that
starts a run, as several suites here do)."""

from __future__ import annotations

import pytest

from openaiperf.history.location import default_store_path, resolve_url


@pytest.fixture(scope="module")
def store_seen_by_a_module_fixture() -> str | None:
    return resolve_url()


def test_a_module_scoped_fixture_does_not_see_the_user_history(store_seen_by_a_module_fixture):
    assert store_seen_by_a_module_fixture is not None
    assert str(default_store_path()) not in store_seen_by_a_module_fixture
    assert store_seen_by_a_module_fixture != f"sqlite:///{default_store_path()}"


def test_a_test_does_not_see_the_user_history():
    assert str(default_store_path()) not in (resolve_url() or "")
