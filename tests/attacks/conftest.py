"""Small malicious submissions run by the real `harness reproduce` (smoke mode, one seed, CPU).

Each attack is a trainer that prints what an honest trainer prints (so the harness measures a
score) and, at a chosen moment, does something a hostile submission would. ``attack(...)`` writes
the folder and its manifest, runs the reproduction in-process and returns the result or the
error it ended in; the tests assert the safe outcome. They run as root, as an ordinary user
(.ci/run) and inside the image (tests/test_image.py), where the sandbox holds different
properties: each test states what must hold everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.reproduce import ReproduceOptions, reproduce

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

# Phases of an honest trainer's output; an attack's code runs at one of the hooks.
_TRAINER = '''
import os, sys, time
CODE_BYTES = os.path.getsize(__file__)
def say(line):
    print(line, flush=True)
{setup}
say("step:1/10 train_loss:6.9 train_time:100ms step_avg:100ms")
say("step:2/10 val_loss:6.7 val_bpb:3.2 train_time:200ms step_avg:100ms")
say("stopping_early: wallclock_cap train_time:200ms step:2/10")
{before_artifact}
open("final_model.int8.ptz", "wb").write(b"\\x01" * 1000)
say("Serialized model int8+zlib: 1000 bytes")
say(f"Total submission size int8+zlib: {{1000 + CODE_BYTES}} bytes")
{in_eval}
say("final_int8_zlib_roundtrip val_loss:6.70000000 val_bpb:3.20000000 eval_time:{eval_ms}ms")
say("final_int8_zlib_roundtrip_exact val_loss:6.70000000 val_bpb:3.20000000")
{after}
'''

_MANIFEST = '''
[submission]
name = "{name}"
entry = "train_gpt.py"
data = "embedded"
nproc = 1
artifact = "{artifact}"
code_files = ["train_gpt.py"]
'''


@dataclass
class Outcome:
    exit_code: int
    record: dict[str, Any] | None
    run_dir: Path | None
    error: HarnessError | None

    @property
    def seed(self) -> dict[str, Any]:
        return self.record["seeds"][0]

    def findings(self) -> list[dict]:
        return list((self.record or {}).get("verification", {}).get("findings", []))

    def rules(self) -> set[str]:
        """Rules of the error findings (what makes the exit non-zero)."""
        return {f["rule"] for f in self.findings() if f.get("severity") == "error"}

    def all_rules(self) -> set[str]:
        return {f["rule"] for f in self.findings()}

    def log(self) -> str:
        return (self.run_dir / "seed-1" / "harness.log").read_text()

    def stdout_lines(self) -> list[str]:
        return [ln.split(" ", 1)[1] for ln in self.log().splitlines() if " " in ln and "[stderr]" not in ln]


def write_submission(root: Path, *, setup: str = "", before_artifact: str = "", in_eval: str = "", after: str = "",
                     eval_ms: int = 100, name: str = "attack", artifact: str = "final_model.int8.ptz",
                     manifest: str | None = None) -> Path:
    sub = root / "sub"
    sub.mkdir(parents=True)
    d = textwrap.dedent
    (sub / "train_gpt.py").write_text(_TRAINER.format(setup=d(setup), before_artifact=d(before_artifact),
                                                      in_eval=d(in_eval), after=d(after), eval_ms=eval_ms))
    (sub / "harness.toml").write_text(manifest if manifest is not None else _MANIFEST.format(name=name, artifact=artifact))
    return sub


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """`harness ARGS` in-process through the console entry point (errors mapped to exit codes)."""
    from harness.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    cap = capsys.readouterr()
    return int(exc.value.code or 0), cap.out + cap.err


# PGOLF_ATTACKS_ENGINE=fallback runs the attacks against the hand-written namespaces instead of
# bubblewrap: how the closing note of issue 21 measured "before" (most of them then succeed).
ENGINE = os.environ.get("PGOLF_ATTACKS_ENGINE", "auto")


def run_attack(root: Path, sub: Path, *, policy: str | None = None, train_seconds: float = 30,
               eval_seconds: float = 30, runs: str = "runs") -> Outcome:
    out = root / runs
    try:
        res = reproduce(str(sub), ReproduceOptions(seeds=[1], mode="smoke", out=out, run_id="r", progress=False,
                                                   policy=policy, train_seconds=train_seconds,
                                                   eval_seconds=eval_seconds, sandbox_engine=ENGINE))
    except HarnessError as exc:
        return Outcome(exc.exit_code, None, None, exc)
    record = json.loads(res.record_path.read_text())
    return Outcome(res.exit_code, record, res.run_dir, None)


@pytest.fixture
def attack(tmp_path):
    """attack(**trainer_hooks, policy=None) -> Outcome of a real reproduction of that submission."""
    def _run(policy: str | None = None, train_seconds: float = 30, eval_seconds: float = 30, **hooks) -> Outcome:
        sub = write_submission(tmp_path, **hooks)
        return run_attack(tmp_path, sub, policy=policy, train_seconds=train_seconds, eval_seconds=eval_seconds)
    return _run


@pytest.fixture
def tight_policy(tmp_path):
    """A smoke policy with small sandbox limits (pids, disk) so resource abuse is cheap to try."""
    def _make(**limits: int) -> str:
        src = Path(__file__).resolve().parents[2] / "harness" / "policies" / "smoke.toml"
        text = src.read_text().split("[sandbox]")[0]
        text += "[sandbox]\n" + "".join(f"{k} = {v}\n" for k, v in limits.items())
        p = tmp_path / "tight.toml"
        p.write_text(text)
        return str(p)
    return _make
