"""The in-process live app of the subscription tests (``live``, ``live_with``)."""

from tests.subscriptions.conftest import live, live_with  # noqa: F401  (fixtures)
