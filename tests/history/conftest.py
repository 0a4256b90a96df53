"""Fixtures shared by the history and discovery tests."""

from tests.graphql.test_round_trips import app_client  # noqa: F401  (the in-process app and its engine)
