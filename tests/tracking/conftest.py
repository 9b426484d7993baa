import pytest

from tests.synthetic_head import load_head, write_head_once


@pytest.fixture(scope="session")
def head_files(tmp_path_factory):
    """Paths of the synthetic FLAME-format test head and its embeddings (written once per session)."""
    return write_head_once(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def test_head(head_files):
    return load_head(head_files)
