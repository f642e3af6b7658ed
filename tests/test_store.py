"""The run store: hashing, atomic writes, resume bit for bit, corrupt checkpoints, caching."""

import json
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from smfg.runs import hashing
from smfg.runs import lock as lock_mod
from smfg.runs import store as store_mod
from smfg.runs.store import (
    RunStore,
    atomic_torch_save,
    atomic_write_text,
    config_hash,
    list_runs,
)

SPEC = {"algo": "toy", "n_epochs": 4, "seed": 3, "lr": 0.05, "net": {"hidden": 8}}


class ToyTrainer:
    """A small MLP regression: fresh data each epoch from its own torch and numpy generators,
    a growing replay 'buffer' sampled with the torch generator, SGD with momentum."""

    def __init__(self, spec: dict):
        self.epoch = 0
        self.n_epochs = spec["n_epochs"]
        self.gen = torch.Generator().manual_seed(spec["seed"])
        self.rng = np.random.default_rng(spec["seed"])
        h = spec["net"]["hidden"]
        self.net = nn.Sequential(nn.Linear(3, h), nn.Tanh(), nn.Linear(h, 1)).double()
        with torch.no_grad():  # initialised from our generator, not the global one
            for p in self.net.parameters():
                p.copy_(0.5 * torch.randn(p.shape, generator=self.gen, dtype=p.dtype))
        self.opt = torch.optim.SGD(self.net.parameters(), lr=spec["lr"], momentum=0.9)
        self.w = torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)
        self.buffer = torch.empty(0, 4, dtype=torch.float64)

    def train_epoch(self) -> dict[str, float]:
        x = torch.randn(16, 3, generator=self.gen, dtype=torch.float64)
        noise = torch.from_numpy(self.rng.normal(0.0, 0.1, size=(16, 1)))
        self.buffer = torch.cat([self.buffer, torch.cat([x, x @ self.w + noise], 1)])
        for _ in range(5):
            idx = torch.randint(len(self.buffer), (8,), generator=self.gen)
            batch = self.buffer[idx]
            loss = ((self.net(batch[:, :3]) - batch[:, 3:]) ** 2).mean()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        self.epoch += 1
        return {
            "loss": loss.item(),
            "buffer_size": len(self.buffer),
            "noise_mean": float(noise.mean()),
        }

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "gen": self.gen.get_state(),
            "rng": self.rng.bit_generator.state,
            "buffer": self.buffer,
        }

    def load_state_dict(self, d: dict) -> None:
        self.epoch = d["epoch"]
        self.net.load_state_dict(d["net"])
        self.opt.load_state_dict(d["opt"])
        self.gen.set_state(d["gen"])
        self.rng.bit_generator.state = d["rng"]
        self.buffer = d["buffer"].clone()

    def policy_state(self) -> dict:
        return {"net": {k: v.detach().clone() for k, v in self.net.state_dict().items()}}


class Counter:
    """make_trainer that counts how many trainers it built."""

    def __init__(self):
        self.calls = 0

    def __call__(self, spec):
        self.calls += 1
        return ToyTrainer(spec)


def assert_same_state(a, b, where="state"):
    """Nested equality with torch.equal on tensors (bit for bit)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def csv_without_wall_time(run_dir: Path) -> str:
    """The metrics CSV text with the (nondeterministic) wall_time_s column cut off."""
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert lines[0].endswith(",wall_time_s")
    return "\n".join(line.rsplit(",", 1)[0] for line in lines)


def final_checkpoint(run_dir: Path, epoch: int = 4) -> dict:
    return torch.load(run_dir / "checkpoints" / f"ckpt-{epoch:06d}.pt", weights_only=False)


def assert_identical(ref, other):
    """Two finished runs: same policy, same final trainer state, same metrics bytes."""
    assert_same_state(ref.policy_state, other.policy_state, "policy")
    assert_same_state(
        final_checkpoint(ref.run_dir)["trainer"], final_checkpoint(other.run_dir)["trainer"]
    )
    assert csv_without_wall_time(ref.run_dir) == csv_without_wall_time(other.run_dir)
    drop = ["wall_time_s"]
    pd.testing.assert_frame_equal(ref.metrics.drop(columns=drop), other.metrics.drop(columns=drop))


@pytest.fixture
def reference(tmp_path):
    """The uninterrupted 4-epoch run."""
    return RunStore(tmp_path / "ref").run(SPEC, ToyTrainer)


# ----------------------------------------------------------------------------- resume


def test_straight_run_layout(reference):
    d = reference.run_dir
    assert reference.computed and reference.done and reference.resumed_from is None
    assert d.name == f"toy-{config_hash(SPEC)}"
    assert json.loads((d / "config.json").read_text())["spec"] == SPEC
    assert json.loads((d / "DONE").read_text())["hash"] == config_hash(SPEC)
    assert sorted(p.name for p in (d / "checkpoints").glob("*.pt")) == [
        "ckpt-000003.pt",
        "ckpt-000004.pt",
    ]  # keep=2
    m = reference.metrics
    assert list(m.columns) == ["epoch", "loss", "buffer_size", "noise_mean", "wall_time_s"]
    assert m["epoch"].tolist() == [1, 2, 3, 4]
    assert m["buffer_size"].tolist() == [16, 32, 48, 64]
    assert_same_state(reference.policy_state, torch.load(d / "policy.pt", weights_only=False))
    assert not list(d.rglob(".tmp-*"))


def test_kill_and_resume_is_bit_identical(tmp_path, reference):
    store = RunStore(tmp_path / "b")
    first = store.run(SPEC, ToyTrainer, stop_after=2)
    assert not first.done and first.metrics["epoch"].tolist() == [1, 2]
    assert store.status(SPEC) == "partial" and not (first.run_dir / "DONE").exists()
    second = store.run(SPEC, ToyTrainer)
    assert second.resumed_from == 2 and second.computed and second.done
    assert store.status(SPEC) == "done"
    assert_identical(reference, second)


def test_crash_after_uncheckpointed_epoch_recomputes_its_row(tmp_path, reference):
    store = RunStore(tmp_path / "b")

    def crash_at_3(epoch, row):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.run(SPEC, ToyTrainer, checkpoint_every=2, keep=5, progress=crash_at_3)
    run_dir = store.run_dir(SPEC)
    assert len((run_dir / "metrics.csv").read_text().splitlines()) == 1 + 3  # row 3 written
    with open(run_dir / "metrics.csv", "a") as f:  # and a torn row, as a kill mid-append leaves
        f.write("4,0.12")
    result = store.run(SPEC, ToyTrainer, checkpoint_every=2, keep=5)
    assert result.resumed_from == 2
    assert_identical(reference, result)


def test_stop_after_checkpoints_the_pause(tmp_path, reference):
    store = RunStore(tmp_path / "b")
    first = store.run(SPEC, ToyTrainer, checkpoint_every=3, stop_after=2)
    assert (first.run_dir / "checkpoints" / "ckpt-000002.pt").exists()
    assert store.run(SPEC, ToyTrainer, stop_after=0).metrics["epoch"].tolist() == [1, 2]
    result = store.run(SPEC, ToyTrainer, checkpoint_every=3)
    assert result.resumed_from == 2
    assert_identical(reference, result)


def test_finished_run_is_not_recomputed(tmp_path):
    store = RunStore(tmp_path)
    make = Counter()
    first = store.run(SPEC, make)
    assert make.calls == 1
    make = Counter()
    again = store.run(SPEC, make)
    assert make.calls == 0 and not again.computed and again.done
    assert_same_state(first.policy_state, again.policy_state)
    pd.testing.assert_frame_equal(first.metrics, again.metrics)
    pd.testing.assert_frame_equal(store.load_metrics(SPEC), first.metrics)
    assert_same_state(store.load_policy(first.run_dir), first.policy_state)
    assert_same_state(store.load_policy(str(first.run_dir)), first.policy_state)


# ----------------------------------------------------------------------------- corruption


def _truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path):
    path.write_bytes(b"this is not a torch checkpoint\x00\xff" * 10)


def _missing_keys(path: Path):
    torch.save({"epoch": 3, "trainer": {}}, path)


def _flipped_byte(path: Path):
    """One byte of a tensor's storage flipped: torch.load alone accepts it, the CRC does not."""
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)  # the biggest tensor storage
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    data[info.header_offset + 30 + name_len + extra_len + 100] ^= 0xFF
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=False)  # silent corruption for torch


@pytest.mark.parametrize("corrupt", [_truncate, _garbage, _missing_keys, _flipped_byte])
def test_corrupt_newest_checkpoint_falls_back(tmp_path, reference, corrupt):
    store = RunStore(tmp_path / "b")
    first = store.run(SPEC, ToyTrainer, keep=3, stop_after=3)
    ckpts = first.run_dir / "checkpoints"
    corrupt(ckpts / "ckpt-000003.pt")
    with pytest.warns(RuntimeWarning, match=r"ckpt-000003\.pt is unusable") as caught:
        result = store.run(SPEC, ToyTrainer, keep=3)
    assert len(caught) == 1
    assert result.resumed_from == 2
    assert len(result.warnings) == 1 and "ckpt-000003.pt" in result.warnings[0]
    assert (ckpts / "corrupt" / "ckpt-000003.pt").exists()  # moved aside, not deleted
    assert_identical(reference, result)


def test_all_checkpoints_corrupt_restarts_from_scratch(tmp_path, reference):
    store = RunStore(tmp_path / "b")
    first = store.run(SPEC, ToyTrainer, stop_after=2)
    ckpts = first.run_dir / "checkpoints"
    _truncate(ckpts / "ckpt-000002.pt")
    _garbage(ckpts / "ckpt-000001.pt")
    make = Counter()
    with pytest.warns(RuntimeWarning) as caught:
        result = store.run(SPEC, make)
    messages = [str(w.message) for w in caught]
    assert any("ckpt-000002.pt" in m for m in messages)
    assert any("ckpt-000001.pt" in m for m in messages)
    assert any("from scratch" in m for m in messages)
    assert result.resumed_from is None and len(result.warnings) == 3
    assert sorted(p.name for p in (ckpts / "corrupt").iterdir()) == [
        "ckpt-000001.pt",
        "ckpt-000002.pt",
    ]
    assert make.calls == 1
    assert_identical(reference, result)


# ----------------------------------------------------------------------------- hashing


def test_run_dirs_follow_the_spec(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    shuffled = {"net": {"hidden": 8}, "lr": 0.05, "seed": 3, "n_epochs": 4, "algo": "toy"}
    assert store.run_dir(shuffled) == store.run_dir(SPEC)
    assert store.run_dir({**SPEC, "seed": 4}) != store.run_dir(SPEC)
    assert store.run_dir({**SPEC, "lr": 0.05000000000000001}) != store.run_dir(SPEC)
    assert store.run_dir({**SPEC, "net": {"hidden": 9}}) != store.run_dir(SPEC)
    assert store.run_dir({**SPEC, "algo": "other"}).name.startswith("other-")
    assert store.run_dir({"seed": 1}).name.startswith("run-")
    assert config_hash({"a": (1, 2)}) == config_hash({"a": [1, 2]})
    assert config_hash({"a": np.float64(0.5), "b": np.int64(2)}) == config_hash({"a": 0.5, "b": 2})
    assert len(config_hash(SPEC)) == 16
    assert config_hash(SPEC) == config_hash(json.loads(json.dumps(SPEC)))

    @dataclass(frozen=True)
    class Net:
        hidden: int

    assert config_hash({**SPEC, "net": Net(8)}) == config_hash(SPEC)

    before = store.run_dir(SPEC)
    monkeypatch.setattr(hashing, "CODE_VERSION", "smfg-999.0.0")
    assert store.run_dir(SPEC) != before


def test_status_and_list_runs(tmp_path):
    store = RunStore(tmp_path)
    assert store.status(SPEC) == "new"
    assert list_runs(tmp_path).empty and list_runs(tmp_path / "missing").empty
    with pytest.raises(FileNotFoundError, match="not been started"):
        store.load_metrics(SPEC)
    store.run(SPEC, ToyTrainer)
    other = {**SPEC, "seed": 9, "n_epochs": 5}
    store.run(other, ToyTrainer, stop_after=1)
    with pytest.raises(FileNotFoundError, match="partial"):
        store.load_policy(other)
    runs = list_runs(tmp_path).set_index("hash")
    done, partial = runs.loc[config_hash(SPEC)], runs.loc[config_hash(other)]
    assert (done["status"], done["epochs"], done["n_epochs"]) == ("done", 4, 4)
    assert (partial["status"], partial["epochs"], partial["n_epochs"]) == ("partial", 1, 5)
    assert partial["checkpoint_epoch"] == 1 and (runs["algo"] == "toy").all()


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "file.txt"
    atomic_write_text(path, "old")

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_text(path, "new")
    with pytest.raises(OSError, match="disk on fire"):
        atomic_torch_save(path, {"x": torch.zeros(3)})
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # no temp left behind
    monkeypatch.undo()
    atomic_write_text(path, "new")
    assert path.read_text() == "new"


def test_atomic_write_failure_inside_writer(tmp_path):
    path = tmp_path / "ckpt.pt"
    atomic_torch_save(path, {"x": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle me")

    with pytest.raises(RuntimeError, match="cannot pickle me"):
        atomic_torch_save(path, {"x": Unpicklable()})
    assert torch.load(path, weights_only=False) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_give_clear_errors(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(ValueError, match=r"'net\.act'.*function"):
        store.run({**SPEC, "net": {"hidden": 8, "act": torch.tanh}}, ToyTrainer)
    with pytest.raises(ValueError, match=r"'lrs\[1\]'.*set"):
        config_hash({"lrs": [0.1, {1, 2}]})
    with pytest.raises(ValueError, match="dict keys must be str"):
        config_hash({"grid": {1: "a"}})
    with pytest.raises(ValueError, match=r"'lr'.*nan.*finite"):
        config_hash({"lr": float("nan")})
    with pytest.raises(ValueError, match="must be a dict"):
        config_hash([1, 2])
    with pytest.raises(ValueError, match=r"checkpoint_every=0.*integer >= 1"):
        store.run(SPEC, ToyTrainer, checkpoint_every=0)
    with pytest.raises(ValueError, match=r"keep=-1.*integer >= 1"):
        store.run(SPEC, ToyTrainer, keep=-1)
    with pytest.raises(ValueError, match=r"stop_after=-1"):
        store.run(SPEC, ToyTrainer, stop_after=-1)
    with pytest.raises(ValueError, match="'algo'.*names a directory"):
        store.run_dir({**SPEC, "algo": "../escape"})
    assert not list(tmp_path.iterdir())  # nothing written for bad input


def test_config_with_another_hash_is_refused(tmp_path):
    store = RunStore(tmp_path)
    first = store.run(SPEC, ToyTrainer, stop_after=1)
    config = json.loads((first.run_dir / "config.json").read_text())
    config["hash"] = "0123456789abcdef"
    (first.run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=rf"0123456789abcdef.*{config_hash(SPEC)}"):
        store.run(SPEC, ToyTrainer)


def test_trainer_contract_is_checked(tmp_path):
    class Skips(ToyTrainer):
        def train_epoch(self):
            out = super().train_epoch()
            self.epoch += 1
            return out

    with pytest.raises(RuntimeError, match="must add one"):
        RunStore(tmp_path).run(SPEC, Skips)


@pytest.mark.skipif(lock_mod.fcntl is None, reason="advisory locks are POSIX only")
def test_a_run_being_computed_elsewhere_is_refused(tmp_path):
    store = RunStore(tmp_path)
    store.run(SPEC, ToyTrainer, stop_after=1)
    with open(store.run_dir(SPEC) / ".lock", "a") as f:  # another process holds the run
        lock_mod.fcntl.flock(f.fileno(), lock_mod.fcntl.LOCK_EX)
        with pytest.raises(RuntimeError, match="another process"):
            store.run(SPEC, ToyTrainer)
    assert store.run(SPEC, ToyTrainer).resumed_from == 1


# ----------------------------------------------------------------------------- repair


def _flipped_crc_byte(path: Path):
    """One byte of the biggest member flipped: only the zip's CRC notices."""
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    data[info.header_offset + 30 + name_len + extra_len + info.file_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["missing", _truncate, _garbage, _flipped_crc_byte])
def test_a_finished_runs_policy_is_rebuilt_bit_identical(tmp_path, damage):
    store = RunStore(tmp_path)
    first = store.run(SPEC, ToyTrainer)
    policy = first.run_dir / "policy.pt"
    original = policy.read_bytes()
    if damage == "missing":
        policy.unlink()
    else:
        damage(policy)
    make = Counter()
    with pytest.warns(
        RuntimeWarning, match=r"policy\.pt was unusable.*rebuilt it from ckpt-000004"
    ):
        again = store.run(SPEC, make)
    assert make.calls == 1 and not again.computed  # a trainer loaded the checkpoint, no epoch
    assert policy.read_bytes() == original
    assert_same_state(again.policy_state, first.policy_state)
    corrupt = first.run_dir / "checkpoints" / "corrupt"
    assert (corrupt / "policy.pt").exists() == (damage != "missing")  # kept, not deleted


def test_a_damaged_policy_without_a_trainer_names_the_file(tmp_path):
    store = RunStore(tmp_path)
    first = store.run(SPEC, ToyTrainer)
    _truncate(first.run_dir / "policy.pt")
    with pytest.raises(store_mod.CorruptRunError, match=r"policy\.pt of a finished run"):
        store.load_policy(first.run_dir)
    with pytest.warns(RuntimeWarning, match="rebuilt"):
        store.load_policy(first.run_dir, ToyTrainer)
    assert_same_state(store.load_policy(first.run_dir), first.policy_state)
    with pytest.raises(FileNotFoundError, match="no run directory"):
        store.load_policy(tmp_path / "nope")


def test_a_policy_that_cannot_be_rebuilt_resumes_training(tmp_path, reference):
    store = RunStore(tmp_path / "b")
    first = store.run(SPEC, ToyTrainer, keep=3)
    _garbage(first.run_dir / "policy.pt")
    _truncate(first.run_dir / "checkpoints" / "ckpt-000004.pt")
    with pytest.raises(store_mod.CorruptRunError, match="ckpt-000004.pt"):
        store.load_policy(first.run_dir, ToyTrainer)
    with pytest.warns(RuntimeWarning) as caught:
        again = store.run(SPEC, ToyTrainer, keep=3)
    messages = [str(w.message) for w in caught]
    assert "resuming the run" in messages[0] and "ckpt-000004.pt is unusable" in messages[1]
    assert again.warnings == messages
    assert again.computed and again.resumed_from == 3
    assert_identical(reference, again)


@pytest.mark.skipif(lock_mod.fcntl is None, reason="advisory locks are POSIX only")
def test_a_locked_run_names_its_holder(tmp_path):
    import socket

    store = RunStore(tmp_path)
    store.run(SPEC, ToyTrainer, stop_after=1)
    with lock_mod.locked(store.run_dir(SPEC)):  # as another process would hold it
        with open(store.run_dir(SPEC) / ".lock", "a") as f:  # a second open file: refused
            with pytest.raises(BlockingIOError):
                lock_mod.fcntl.flock(f.fileno(), lock_mod.fcntl.LOCK_EX | lock_mod.fcntl.LOCK_NB)
        with pytest.raises(store_mod.RunLockedError) as caught:
            store.run(SPEC, ToyTrainer)
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(caught.value)
    assert "being computed by another process" in str(caught.value)


def test_files_are_written_with_the_users_umask(tmp_path):
    old = os.umask(0o027)
    try:
        first = RunStore(tmp_path).run(SPEC, ToyTrainer)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in first.run_dir.rglob("*") if p.is_file()}
    assert modes["metrics.csv"] == 0o640
    assert set(modes.values()) == {0o640}, modes
