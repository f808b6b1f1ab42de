"""Config schemas, YAML files and --set overrides (no Prefect, no MLflow)."""

import pytest

from flows.config import ConfigError, build_config, load_yaml_config, parse_override, set_dotted
from flows.nbody import NBodyConfig


def test_defaults_validate():
    config = build_config(NBodyConfig)
    assert config.ic == "pythagorean" and config.integrator == "hermite4"


def test_overrides_are_parsed_as_yaml():
    assert parse_override("eta=0.01") == (["eta"], 0.01)
    assert parse_override("masses=[1, 2]") == (["masses"], [1, 2])
    assert parse_override("a.b=x") == (["a", "b"], "x")
    assert set_dotted({"a": {"c": 1}}, ["a", "b"], 2) == {"a": {"c": 1, "b": 2}}


def test_precedence_quick_then_file_then_set(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("t_end: 3.0\nintegrator: yoshida4\n")
    config = build_config(NBodyConfig, load_yaml_config(path), ["integrator=leapfrog"], quick=True)
    assert config.t_end == 3.0  # the file beats --quick
    assert config.integrator == "leapfrog"  # --set beats the file
    assert config.n_chunks == NBodyConfig.quick_overrides["n_chunks"]


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        (
            ["masses=[1, -1]", "ic=custom", "positions=[[0,0],[1,0]]", "velocities=[[0,0],[0,0]]"],
            "masses",
            "> 0",
        ),
        (
            [
                "ic=custom",
                "masses=[1, 1]",
                "positions=[[0,0],[1,0],[2,0]]",
                "velocities=[[0,0],[0,0]]",
            ],
            "positions",
            "one row per mass",
        ),
        (
            ["ic=custom", "masses=[1]", "positions=[[0,0]]", "velocities=[[0,0]]"],
            "masses",
            "at least 2 bodies",
        ),
        (["t_end=0"], "t_end", "greater than 0"),
        (["t_end=-5"], "t_end", "greater than 0"),
        (["integrator=rk4"], "integrator", "'hermite4', 'leapfrog' or 'yoshida4'"),
        (["bogus=1"], "bogus", "allowed keys: ic, masses"),
        (["ic=custom"], "masses", "required when ic=custom"),
        (["positions=[[0,0],[1,0]]"], "positions", "only used with ic=custom"),
        (["n_systems=4"], "n_systems", "ic=random_triple"),
        (
            [
                "ic=custom",
                "masses=[1, 1]",
                "positions=[[0,0,0],[1,0,0]]",
                "velocities=[[0,0],[0,0]]",
            ],
            "velocities",
            "shape of positions",
        ),
        (["resume_from=/nonexistent/ckpt.msgpack"], "resume_from", "does not exist"),
        (["integrator=leapfrog", "sampling=interpolate"], "sampling", "needs the adaptive"),
        (["batch_strategy=pmap"], "batch_strategy", "'vmap' or 'sequential'"),
    ],
)
def test_invalid_configs_name_the_key(overrides, key, allowed):
    with pytest.raises(ConfigError) as err:
        build_config(NBodyConfig, {}, overrides)
    message = str(err.value)
    assert message.startswith(key), message
    assert allowed in message, message


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml_config(bad)
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("no-equals-sign")
