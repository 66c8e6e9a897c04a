from __future__ import annotations

import random

import pytest

from tests.secrets import tokens


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """A random source seeded by the test's own id: the same tokens on every run of one test."""
    return tokens.source(request.node.nodeid)
