"""Schemathesis against the project's own OpenAPI document (``/openapi.json``): generated requests for every
documented operation, a bounded number each, and not one 5xx. In-process (ASGI), tiny models, offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402


@pytest.fixture(scope="module")
def api_schema(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from imagelens.api.app import create_app
    from imagelens.config import HubSettings, ServerSettings, Settings

    store = tmp_path_factory.mktemp("schemathesis-store")
    app = create_app(
        Settings(
            model_dir=tiny_model_dir,
            hub=HubSettings(offline=True),
            store_dir=store,
            server=ServerSettings(deadline_s=30.0),
        )
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.slow
def test_no_generated_request_gets_a_5xx(api_schema: Any) -> None:
    """Each documented operation: ``MAX_EXAMPLES`` generated requests (derandomized: the same ones every run).

    Schemathesis' own pytest plugin does not run under this pytest, so the operations are walked here, each with a
    Hypothesis ``given`` over its strategy."""
    from hypothesis import given

    failures: list[str] = []
    calls = [0]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call()
            calls[0] += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
                )

        run()
    assert calls[0] >= 2 * len(operations)
    assert not failures, "\n".join(failures[:20])


MAX_EXAMPLES = 6
