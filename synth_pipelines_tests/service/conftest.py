"""One production-shaped Dagster service per test module (service/stack.py): PostgreSQL + webserver + daemon."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from synth_pipelines_tests.service.stack import (  # noqa: F401  (the names the service tests import)
    IDENTITY_SECRET,
    TEST_REQUESTER,
    Service,
    production_service,
    requester_tags,
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, adult_small_frame: pd.DataFrame) -> Iterator[Service]:
    with production_service(tmp_path_factory.mktemp("service"), adult_small_frame) as running:
        yield running
