"""The repository runs pytest with --import-mode=importlib, which does not put test folders
on sys.path; some learning tests share helpers with each other, so add this folder."""

import sys
from pathlib import Path

_TEST_DIR = str(Path(__file__).resolve().parent)
if _TEST_DIR not in sys.path:
    sys.path.insert(0, _TEST_DIR)
