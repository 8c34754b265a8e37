"""Tests use tiny models, for which intra-op threading only adds synchronisation cost (and,
on a shared 2-core machine, stalls of up to seconds when the other core is busy)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --import-mode=importlib does not put test folders on sys.path; the tests share helpers.
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

_TEST_DIR = str(Path(__file__).resolve().parent)
if _TEST_DIR not in sys.path:
    sys.path.insert(0, _TEST_DIR)
