"""Speed for the property tests: every example builds its own LocalRuntime, but the parts of a start-up that
only read files are done once per module (the SAM template, botocore's service models).

Nothing stateful is shared: each runtime still gets its own moto backend, boto3 session and clients,
simulators, router and clock.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.loaders
import pytest

import drwave_local.runtime.embedded


class _SharedLoaderBoto3:
    """Stands in for the `boto3` module inside drwave_local.runtime.embedded: sessions share one botocore data loader,
    which caches the parsed service models (the JSON files, ~0.15 s per runtime otherwise)."""

    def __init__(self) -> None:
        self._loader = botocore.loaders.create_loader()

    def Session(self, *args: Any, **kwargs: Any) -> boto3.Session:
        session = boto3.Session(*args, **kwargs)
        session._session.register_component("data_loader", self._loader)
        return session


@pytest.fixture(autouse=True, scope="module")
def _fast_runtime_start() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            drwave_local.runtime.embedded, "load_template", functools.cache(drwave_local.runtime.embedded.load_template)
        )
        patch.setattr(drwave_local.runtime.embedded, "boto3", _SharedLoaderBoto3())
        yield
