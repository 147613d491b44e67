import pytest

from irreps.train.config import (
    TrainConfig,
    apply_overrides,
    default_config_path,
    dump_config,
    load_config,
    parse_override,
    parse_yaml,
)


def test_defaults_round_trip_through_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(TrainConfig()))
    assert load_config(path) == TrainConfig()


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  learning_rate: 1e-3\n  lr_: 1\n")
    with pytest.raises(ValueError, match=r"unknown key 'learning_rate'"):
        load_config(path)
    path.write_text("optim:\n  lrr: 1e-3\n")
    with pytest.raises(ValueError, match=r"c.yaml.optim: unknown key 'lrr' \(did you mean 'lr'\?\)"):
        load_config(path)


def test_unknown_section_and_data_key():
    with pytest.raises(ValueError, match="unknown key 'optimizer'.*did you mean 'optim'"):
        load_config(None, ["optimizer.lr=1"])
    with pytest.raises(ValueError, match="unknown field 'froces'.*did you mean 'forces'"):
        load_config(None, ["data.keys.froces=REF_forces"])
    with pytest.raises(ValueError, match="unknown field '0'"):  # a TypeError before (tests/test_fuzz.py)
        load_config(None, ["data.keys={0: x}"])


def test_bad_literal_lists_the_options():
    with pytest.raises(ValueError, match="'sgd' is not one of 'adamw', 'amsgrad'"):
        load_config(None, ["optim.optimizer=sgd"])
    with pytest.raises(ValueError, match="'float16' is not one of"):
        load_config(None, ["run.dtype=float16"])
    with pytest.raises(ValueError, match="'cudagraphs' is not one of 'inductor', 'aot_eager', 'eager'"):
        load_config(None, ["run.compile_backend=cudagraphs"])


def test_bad_values_fail_before_training():
    with pytest.raises(ValueError, match="optim.lr must be positive"):
        load_config(None, ["optim.lr=-1"])
    with pytest.raises(ValueError, match="every loss weight is 0"):
        load_config(None, ["loss.energy=0", "loss.forces=0"])
    with pytest.raises(ValueError, match="expected an integer"):
        load_config(None, ["run.epochs=2.5"])
    with pytest.raises(ValueError, match="direct_forces_epochs must be >= 0"):
        load_config(None, ["loss.direct_forces_epochs=-1"])
    with pytest.raises(ValueError, match="needs a force term"):
        load_config(None, ["loss.forces=0", "loss.direct_forces_epochs=3"])
    with pytest.raises(ValueError, match="cosine_over=time needs optim.schedule=cosine"):
        load_config(None, ["optim.cosine_over=time", "run.max_minutes=5"])
    with pytest.raises(ValueError, match="set it"):
        load_config(None, ["optim.schedule=cosine", "optim.cosine_over=time"])
    with pytest.raises(ValueError, match="'steps' is not one of"):
        load_config(None, ["optim.cosine_over=steps"])


def test_overrides_parse_yaml_values():
    config = load_config(None, ["optim.lr=2e-3", "optim.ema_decay=null", "run.name=abc", "model.options.num_layers=1"])
    assert config.optim.lr == 2e-3
    assert config.optim.ema_decay is None
    assert config.run.name == "abc"
    assert config.model.options == {"num_layers": 1}
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    assert parse_yaml("x: 1E-4")["x"] == 1e-4


@pytest.mark.parametrize("text", ["optim.lr", "=3", "optim..lr=3", "optim.lr=[1,"])
def test_malformed_override(text):
    with pytest.raises(ValueError, match="--set"):
        load_config(None, [text])


def test_override_cannot_descend_into_a_value():
    with pytest.raises(ValueError, match="'optim.lr' is a value, not a section"):
        apply_overrides({"optim": {"lr": 1.0}}, ["optim.lr.x=2"])


def test_shipped_configs_are_valid():
    config = load_config(default_config_path("quickstart"))
    assert config.data.test_file is not None
    with pytest.raises(FileNotFoundError, match="no shipped config named 'nope'"):
        default_config_path("nope")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "none.yaml")
    path = tmp_path / "bad.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="expected a mapping of sections"):
        load_config(path)
    path.write_text("optim: {lr: [\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(path)
