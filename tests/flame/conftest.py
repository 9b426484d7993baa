import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthetic_head import load_head, write_head_once  # noqa: E402


@pytest.fixture(scope="session")
def head_files(tmp_path_factory):
    """Paths of the synthetic FLAME-format test head and its embeddings (written once per session)."""
    return write_head_once(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def test_head(head_files):
    return load_head(head_files)
