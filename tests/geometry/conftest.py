from __future__ import annotations

import pytest
from toy_heads import ToyFlame


@pytest.fixture(scope="session")
def toy_flame() -> ToyFlame:
    return ToyFlame()
