"""guidance_sweep's pairing and checkpoint lookup on plain data (nothing is evaluated)."""
import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "guidance_sweep", Path(__file__).resolve().parents[1] / "guidance_sweep.py")
guidance_sweep = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(guidance_sweep)
SETTINGS, discordant, last_round_policy = (guidance_sweep.SETTINGS, guidance_sweep.discordant,
                                           guidance_sweep.last_round_policy)


def test_discordant_counts_seeds_whose_outcome_differs():
    assert discordant([True, False, True], [True, True, False]) == 2
    assert discordant([], []) == 0
    with pytest.raises(ValueError, match="cannot be paired"):
        discordant([True], [True, False])


def test_last_round_policy_takes_the_highest_trained_round(tmp_path):
    for k in (1, 2, 10):
        folder = tmp_path / f"r{k}" / "policy" / "policy"
        folder.mkdir(parents=True)
        if k != 10:   # round 10 never finished training: no config.json
            (folder / "config.json").write_text("{}")
    checkpoint, number = last_round_policy(tmp_path)
    assert number == 2 and checkpoint == tmp_path / "r2" / "policy" / "policy"
    with pytest.raises(SystemExit, match="no DexPIE checkpoint"):
        last_round_policy(tmp_path / "r1")


def test_the_deployed_setting_comes_first_and_w0_is_the_null_branch():
    assert SETTINGS[0][1:] == (1.0, 1.5)   # the reference the others are paired against
    assert ("null (w=0)", 1.0, 0.0) in SETTINGS
