"""One frozen Profile per name holds every number a profile sets; the layers' tables are views
of it, and no run's configuration changes with it unnoticed."""

import dataclasses
import hashlib
import json

import pytest

from smfg.algos import offpolicy, ppo, smfrl
from smfg.config import PROFILES, economy_params
from smfg.paper import fixed_policies
from smfg.paper.artefacts import ARTEFACT_PROFILES
from smfg.paper.certify_run import CHAPTER_PROFILES
from smfg.perf.scaling import SCALING_PROFILES
from smfg.profiles import ALL_PROFILES, Profile, profile
from smfg.runs.algorithms import ALGORITHMS
from smfg.runs.hashing import canonical_spec
from smfg.runs.train import run_spec


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_one_profile_per_name():
    assert tuple(p.name for p in ALL_PROFILES) == PROFILES
    for name in PROFILES:
        p = profile(name)
        assert isinstance(p, Profile) and p.name == name
        assert profile(name) is p


def test_a_bad_name_names_the_value_and_the_allowed_ones():
    with pytest.raises(ValueError, match=r"'huge'.*'smoke', 'quick', 'paper'"):
        profile("huge")


def test_profiles_are_frozen():
    p = profile("quick")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.training = p.training  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.training.epochs = 1  # type: ignore[misc]


def test_the_layers_tables_are_views_of_the_profile():
    for name in PROFILES:
        p = profile(name)
        assert offpolicy.PROFILES[name] == p.offpolicy_settings()
        assert smfrl.SMFRL_PROFILES[name] == p.smfrl_settings()
        assert ppo.PROFILES[name] == p.ppo_settings()
        assert ARTEFACT_PROFILES[name] is p.artefacts
        assert fixed_policies.PROFILES[name] is p.fixed_policies
        assert SCALING_PROFILES[name] is p.scaling
        assert dataclasses.asdict(CHAPTER_PROFILES[name]) == dataclasses.asdict(p.chapter)


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
@pytest.mark.parametrize("name", PROFILES)
def test_every_config_takes_its_numbers_from_the_profile(algo, name):
    p = profile(name)
    cfg = ALGORITHMS[algo][0](name)
    for key, value in dataclasses.asdict(p.training).items():
        assert getattr(cfg, key) == value, (algo, name, key)
    if algo == "ppo":
        own = {k: v for k, v in dataclasses.asdict(p.ppo).items() if v is not None}
    else:
        own = p.offpolicy_settings()
        if algo == "smfrl":
            own["follower_batch"] = p.offpolicy.follower_batch
    for key, value in own.items():
        assert getattr(cfg, key) == value, (algo, name, key)


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_every_config_holds_its_economy_outside_its_fields(algo):
    """``cfg.params`` is the economy the config names, built once; not a field, so a run's spec
    (``asdict``) and hash do not see it."""
    cfg = ALGORITHMS[algo][0]("smoke", variant="clearing", economy={"T": 7, "beta": 0.95})
    assert cfg.params == economy_params(cfg.variant, **cfg.economy)
    assert (cfg.params.T, cfg.params.beta, cfg.params.variant) == (7, 0.95, "clearing")
    assert cfg.params is cfg.params
    assert "params" not in dataclasses.asdict(cfg) and "_params" not in dataclasses.asdict(cfg)
    assert "params" not in {f.name for f in dataclasses.fields(cfg)}
    assert dataclasses.replace(cfg, economy={"T": 9}).params.T == 9
    with pytest.raises(AttributeError):
        cfg.params = cfg.params  # type: ignore[misc]


#: sha256 (16 digits) of the canonical JSON of each algorithm's run spec at each profile
#: (smoke, quick, paper), as before the profiles were gathered into one record: a change here
#: changes runs (and their hashes, so cached runs are not found again).
RESOLVED = {
    "smfrl": ("80f7c83dc562a91a", "79436a0413637bc7", "20528176e0dcf8b8"),
    "rule_based": ("d51a7d8150d30aa2", "c07152166134a7cd", "53e987aba51caa2b"),
    "ddpg": ("00344f3e66d6c9bc", "8c4f23085dc7cb26", "97b57777ad86ba9b"),
    "iddpg": ("4cb4cb1bb7b369ac", "de923bc91202fe61", "ff8e10d6bca066db"),
    "maddpg": ("eb70e29a2cb46699", "4f703065f74b46bd", "94dff73e933a4b04"),
    "mfmarl": ("97661e6ebf3353bc", "37d21e39e7e46379", "cf36db6e3a1a49d4"),
    "ppo": ("0a102224376100d7", "3e5e0523c4c900c6", "c863d283327eb7d2"),
}


@pytest.mark.parametrize("algo", sorted(RESOLVED))
def test_no_resolved_training_config_changed(algo):
    got = tuple(
        _digest(json.dumps(canonical_spec(run_spec(algo, name)), sort_keys=True))
        for name in PROFILES
    )
    assert got == RESOLVED[algo]


def test_no_profile_number_changed():
    """Every number of every profile (training, evaluation, artefacts, the fixed-policy grid,
    the chapter, scaling), pinned: change it on purpose, and this pin with it."""
    got = {p.name: _digest(repr(p)) for p in ALL_PROFILES}
    assert got == {
        "smoke": "b76874b35dc6da16",
        "quick": "502e91c50445c9a3",
        "paper": "7a735958d0cc9da5",
    }
