"""RunSpec: a frozen record naming a run, its JSON round trip, its pinned hash (the run store's,
unchanged), and clear errors on bad input."""

import dataclasses

import pytest

from smfg.paper.artefacts import RunRequest
from smfg.runs import hashing
from smfg.runs.spec import RunSpec
from smfg.runs.store import RunStore
from smfg.runs.sweep_specs import grid_specs, specs_from_mapping, unique_specs
from smfg.runs.train import run_spec

SPECS = [
    RunSpec("smfrl", "smoke"),
    RunSpec(
        "ppo",
        "quick",
        "clearing",
        1000,
        True,
        3,
        {"leader_reward": "output", "economy": {"beta": 0.97}},
    ),
    RunSpec(
        "ddpg",
        "paper",
        overrides={"leader_reward_weights": [1.0, 0.5, 0.0], "leader_reward": "weighted"},
    ),
]


@pytest.fixture
def pinned_version(monkeypatch):
    """The hash covers the package version: pin it, so that the pins below outlive a bump."""
    monkeypatch.setattr(hashing, "CODE_VERSION", "smfg-pinned")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.algo)
def test_json_round_trip(spec):
    text = spec.to_json()
    back = RunSpec.from_json(text)
    assert back == spec
    assert back.to_json() == text
    assert back.spec() == spec.spec()


def test_the_record_is_frozen_and_holds_overrides_sorted_as_tuples():
    spec = SPECS[2]
    assert spec.overrides == (
        ("leader_reward", "weighted"),
        ("leader_reward_weights", (1.0, 0.5, 0.0)),
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.seed = 1  # type: ignore[misc]


def test_hashes_are_pinned(pinned_version):
    assert [s.hash() for s in SPECS] == ["be0b5c0831f6bfe1", "73ca7c1f43e30e1e", "c3d38034081fd1b8"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.algo)
def test_the_hash_is_the_run_stores_as_before(spec, tmp_path):
    """A RunSpec hashes its full spec, what the store hashed before RunSpec existed: every
    cached run keeps its directory."""
    full = run_spec(spec.algo, spec.profile, **spec.kwargs())
    assert spec.spec() == full
    assert spec.hash() == hashing.config_hash(full)
    store = RunStore(tmp_path)
    assert store.run_dir(spec) == store.run_dir(full) == tmp_path / f"{spec.algo}-{spec.hash()}"


def test_the_same_run_asked_two_ways_is_one_spec():
    a = RunSpec.from_kwargs("smfrl", "smoke", seed=2, bc=True, epochs=3, leader_reward="output")
    b = RunSpec(
        "smfrl", "smoke", bc=True, seed=2, overrides=(("leader_reward", "output"), ("epochs", 3))
    )
    assert a == b and a.hash() == b.hash()
    assert RunSpec("smfrl").hash() == RunSpec.from_kwargs("smfrl", "quick").hash()


def test_the_store_trains_a_run_spec_from_its_full_spec(tmp_path):
    seen = []

    def make_trainer(spec):
        seen.append(spec)
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        RunStore(tmp_path).run(SPECS[0], make_trainer)
    assert seen == [SPECS[0].spec()]


def test_the_sweep_and_the_paper_layer_use_it():
    assert RunRequest is RunSpec
    assert unique_specs([SPECS[0], SPECS[0].spec()]) == [SPECS[0].spec()]
    assert grid_specs("smfrl", "smoke", seeds=(0, 1)) == [
        RunSpec("smfrl", "smoke", seed=s).spec() for s in (0, 1)
    ]
    got = specs_from_mapping({"profile": "smoke", "runs": [{"seed": 1, "epochs": 1}]})
    assert got == [RunSpec("smfrl", "smoke", seed=1, overrides={"epochs": 1}).spec()]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algo": "nope"}, r"algorithm 'nope' is not known: allowed \["),
        ({"algo": "smfrl", "profile": "huge"}, r"profile = 'huge' is not known: allowed"),
        ({"algo": "smfrl", "variant": "mars"}, r"RunSpec.variant = 'mars' is not known: allowed"),
        ({"algo": "smfrl", "n_households": "100"}, r"RunSpec.n_households = '100' is not an int"),
        ({"algo": "smfrl", "seed": 1.5}, r"RunSpec.seed = 1.5 is not an integer"),
        ({"algo": "smfrl", "bc": 1}, r"RunSpec.bc = 1 is not a bool"),
        ({"algo": "smfrl", "overrides": {"seed": 1}}, r"overrides names \['seed'\]"),
        ({"algo": "smfrl", "overrides": [1, 2]}, r"not a mapping of config fields"),
        ({"algo": "smfrl", "overrides": {"lr": object()}}, r"spec key 'lr' holds a object"),
        ({"algo": "smfrl", "overrides": {"lr": float("nan")}}, r"spec key 'lr' is nan"),
    ],
)
def test_bad_fields_get_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RunSpec(**kwargs)


def test_an_unknown_config_field_is_named_when_resolved():
    spec = RunSpec("smfrl", "smoke", overrides={"epochz": 3})
    with pytest.raises(ValueError, match=r"SMFRLConfig has no field\(s\) \['epochz'\]"):
        spec.spec()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{", r"a RunSpec's JSON does not parse"),
        ("[1]", r"a RunSpec's JSON is an object, not list"),
        ('{"algo": "smfrl", "sede": 1}', r"unknown key\(s\) \['sede'\]: allowed \['algo'"),
        ('{"profile": "smoke"}', r"a RunSpec's JSON has no 'algo'"),
        ('{"algo": "smfrl", "overrides": [["lr", 0.1]]}', r"'overrides' is an object"),
        ('{"algo": "smfrl", "seed": "0"}', r"RunSpec.seed = '0' is not an integer"),
    ],
)
def test_bad_json_gets_a_clear_error(text, match):
    with pytest.raises(ValueError, match=match):
        RunSpec.from_json(text)
