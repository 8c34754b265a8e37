"""Training configs: file + CLI overrides, validation naming the bad value, unknown keys
named, for the dataclasses and through the CLI."""
import json

import pytest

from dexpie_learning.train.cli import main as train_main
from dexpie_learning.train.config import (AWRConfig, IndicatorPolicyConfig, IWRConfig,
                                          TrainConfigError, load_config)
from dexpie_learning.train.critic_label import CriticTrainConfig


def test_file_then_overrides(tmp_path):
    path = tmp_path / "iwr.yaml"
    path.write_text("steps: 7\nhuman_to_policy_weight_ratio: 2\ncameras: [front]\n")
    config = load_config(IWRConfig, path, {"steps": 9, "seed": None})
    assert config.steps == 9 and config.human_to_policy_weight_ratio == 2.0
    assert config.cameras == ("front",) and config.seed == 0
    json_path = tmp_path / "p.json"
    json_path.write_text(json.dumps({"optimality_dropout": 0.3, "cfg_scale": 2}))
    assert load_config(IndicatorPolicyConfig, json_path).cfg_scale == 2.0


@pytest.mark.parametrize("cls, data, message", [
    (IWRConfig, {"steps": 0}, "steps must be a positive integer, got 0"),
    (IWRConfig, {"human_to_policy_weight_ratio": -1}, "human_to_policy_weight_ratio must be > 0"),
    (AWRConfig, {"max_weight": 0.5}, "max_weight must be >= 1, got 0.5"),
    (IndicatorPolicyConfig, {"optimality_dropout": 1.0}, "optimality_dropout must be in [0, 1)"),
    (IWRConfig, {"steps": "many"}, "steps must be of type int, got 'many'"),
    (IWRConfig, {"use_object_state": "yes"}, "use_object_state must be of type bool"),
    (IWRConfig, {"arm_representation": "polar"}, "'polar'"),
    (IWRConfig, {"demonstrations": "good"}, "demonstrations must be one of ('all', 'successful'), got 'good'"),
    (CriticTrainConfig, {"failure_decay": 0}, "failure_decay in (0, 1]"),
    (CriticTrainConfig, {"observation_noise": -1.0}, "observation_noise must be a finite number >= 0"),
])
def test_bad_values_are_named(tmp_path, cls, data, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TrainConfigError) as error:
        load_config(cls, path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_unknown_keys_are_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 3\nlearning_rat: 0.1\nbogus: 1\n")
    with pytest.raises(TrainConfigError, match=r"unknown keys \['bogus', 'learning_rat'\]"):
        load_config(IWRConfig, path)
    # AWR's fields are not IWR's.
    with pytest.raises(TrainConfigError, match="awr_temperature"):
        load_config(IWRConfig, None, {"awr_temperature": 1.0})


def test_unparsable_or_missing_file(tmp_path):
    with pytest.raises(TrainConfigError, match="does not exist"):
        load_config(IWRConfig, tmp_path / "none.yaml")
    path = tmp_path / "bad.json"
    path.write_text("{steps: ")
    with pytest.raises(TrainConfigError, match="cannot be parsed"):
        load_config(IWRConfig, path)
    path.write_text("[1, 2]")
    with pytest.raises(TrainConfigError, match="must hold a mapping"):
        load_config(IWRConfig, path)


def test_cli_names_bad_values_and_unknown_keys(tmp_path, capsys):
    common = ["--demos", str(tmp_path), "--rollouts", str(tmp_path), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        train_main(["iwr", *common, "--human-to-policy-weight-ratio", "0"])
    assert exit_info.value.code == 2
    assert "human_to_policy_weight_ratio must be > 0, got 0.0" in capsys.readouterr().err
    config = tmp_path / "c.yaml"
    config.write_text("optimality_dropout: 0.3\nbeta: 2\n")
    with pytest.raises(SystemExit):
        train_main(["policy", *common, "--labels", str(tmp_path), "--config", str(config)])
    assert "unknown keys ['beta']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["critic", *common, "--num-bins", "2"])
    assert "num_bins must be >= 3" in capsys.readouterr().err
