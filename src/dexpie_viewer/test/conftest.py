"""pytest runs with --import-mode=importlib (test folders are not on sys.path): add this folder
(headless_browser.py) and dexpie_bringup's tests (graph_harness.py: the twin graph and a tiny
policy) so the live-view test can use them."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for folder in (_HERE, _HERE.parents[1] / "dexpie_bringup" / "test", _HERE.parents[1] / "dexpie_episode" / "test"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
