"""Legacy normaliser over every fixture submission.json, and the v1 / legacy schemas."""

from __future__ import annotations

import copy
import json
import os
import stat
from types import SimpleNamespace
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from harness.core import records
from harness.core.legacy_record import LegacyRecord
from harness.core.records import RecordInvalid, check_legacy_subset, validate_record, write_record

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_V1 = ROOT / "harness/core/schemas/example-submission-v1.json"

# Pinned: the number of upstream submission.json files in the fixtures and the warnings the
# normaliser raises over them, per kind.  A change here means the normaliser (or the fixtures)
# changed: look at which record moved before updating the numbers.
N_FIXTURE_FILES = 55
WARNINGS_PER_KIND = {
    "bytes_code_alias": 2,
    "bytes_code_null": 1,
    "bytes_total_alias": 3,
    "bytes_total_from_seeds": 11,
    "bytes_total_not_max_seed": 4,
    "compliance_rerun": 1,
    "date_timestamp": 18,
    "empty_author": 1,
    "empty_github_id": 1,
    "missing_author": 1,
    "missing_bytes_total": 2,
    "missing_date": 1,
    "missing_github_id": 2,
    "missing_name": 2,
    "missing_track": 28,
    "no_per_seed_values": 30,
    "over_cap": 1,
    "p_value_string": 1,
    "record_support": 1,
    "seed_bpb_alias": 1,
    "seed_scalar": 2,
    "seeds_dict": 2,
    "seeds_from_seed_results": 1,
    "track_alias": 5,
    "val_bpb_from_mean_key": 1,
    "val_bpb_under_val_loss": 1,
    "val_loss_null": 1,
}
LEGACY_SUBSET_INVALID = {
    "2026-03-19_MLP3x_QAT_Int6_SlidingWindow",  # no name
    "2026-03-19_SlidingWindow_FP16Emb_10L_MuonWD_OvertoneInit",  # no github_id, mean_val_bpb instead of val_bpb
    "2026-03-19_smeargate_orthoinit_muonwd",  # no name/author/github_id/date
    "2026-03-20_10L_Int5MLP_MuonWD04_SWA50",  # BPB stored under val_loss
    "2026-03-19_SwiGLU_WarmdownFix_QuarterBatch_1x5090",  # empty author and github_id
}
T10 = "track_10min_16mb"
LQER = "2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611"


@pytest.fixture(scope="module")
def all_records(records_dir):
    files = records.find_submission_files([records_dir])
    return {f: LegacyRecord.from_path(f) for f in files}


def _by_folder(all_records, folder):
    (rec,) = [r for r in all_records.values() if r.folder == folder]
    return rec


def test_normaliser_over_every_fixture_pins_warning_counts(all_records):
    assert len(all_records) == N_FIXTURE_FILES
    kinds = Counter(k for r in all_records.values() for k in r.warning_kinds)
    assert dict(sorted(kinds.items())) == WARNINGS_PER_KIND
    for rec in all_records.values():
        # Every record gets a track, a day and a BPB (or says why not), and serialises.
        assert rec.track in (records.TRACK_RECORD, records.TRACK_NON_RECORD)
        assert rec.track == {"track_10min_16mb": "10min_16mb", "track_non_record_16mb": "non_record_16mb"}[rec.track_folder]
        assert isinstance(rec.date, date)
        assert rec.val_bpb is not None and 0.5 < rec.val_bpb < 3.0
        json.dumps(rec.to_dict(), default=str)
        for fld, src in rec.provenance.items():
            assert src, fld


def test_lqer_full_shape(all_records):
    rec = _by_folder(all_records, LQER)
    assert (rec.author, rec.github_id, rec.track, rec.date) == ("Benjamin Hadad", "codemath3000", "10min_16mb", date(2026, 4, 27))
    assert rec.seeds == [42, 0, 1234]
    s42 = rec.seed_results["42"]
    assert (s42.val_bpb, s42.val_loss, s42.artifact_bytes, s42.steps, s42.eval_time_s) == (1.05989454, 2.31944212, 15897259, 4945, 508.8)
    assert s42.provenance["val_bpb"] == "seed_results.42.val_bpb"
    assert rec.bytes_total == 15907550 and rec.bytes_total_meaning == "max_seed_artifact"
    assert rec.claimed["std_bpb"] == 0.0009 and rec.pytorch_version == "2.9.1+cu128"
    assert rec.warnings == []


def test_special_shapes(all_records):
    int5 = _by_folder(all_records, "2026-03-20_10L_Int5MLP_MuonWD04_SWA50")
    assert int5.val_bpb == 1.14276 and int5.val_loss is None
    assert int5.provenance["val_bpb"] == "val_loss"
    assert int5.provenance["track"] == "folder path"

    over = _by_folder(all_records, "2026-03-19_SlidingWindow_FP16Emb_10L_MuonWD_OvertoneInit")
    assert over.val_bpb == 1.17475315 and over.provenance["val_bpb"] == "mean_val_bpb"
    assert over.bytes_code == 50651 and over.provenance["bytes_code"] == "code_bytes"
    assert over.seeds == [1337, 42, 7]

    qk5 = _by_folder(all_records, "2026-04-06_SP8192_QK5_LegalTTT_1.0828")
    assert "seeds_dict" in qk5.warning_kinds and qk5.seeds == [0, 42, 1234]
    assert qk5.seed_results["0"].artifact_bytes == 15991018  # per-seed 'bytes_total'
    assert qk5.seed_results["0"].train_time_s == pytest.approx(588.004)  # train_time_ms converted

    smear = _by_folder(all_records, "2026-03-19_smeargate_orthoinit_muonwd")
    assert smear.date == date(2026, 3, 19) and smear.provenance["date"] == "folder name"
    assert smear.seeds == [1337] and smear.bytes_total == 15878809

    rr = _by_folder(all_records, "2026-04-29_SmearGateBOSFix_3Seed_1.06141")
    assert rr.submission_type == "record_support" and rr.supports_pr == 1851
    assert rr.rerun_seed_results["42"].train_time_s == 592.054
    assert rr.compliance["train_time_max_s"] == 599.623

    nb = _by_folder(all_records, "2026-03-17_NaiveBaseline")
    assert nb.date == date(2026, 3, 18) and nb.date_raw == "2026-03-18T14:56:29Z"
    assert nb.bytes_total_meaning == "single_value"

    v4096 = _by_folder(all_records, "2026-04-01_Vocab4096_MLPMult4_WD085")
    assert v4096.bytes_total_meaning == "mean_seed_artifact"
    assert v4096.max_artifact_bytes() > v4096.bytes_total

    unl = _by_folder(all_records, "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3")
    assert unl.track == "non_record_16mb" and unl.unlimited_compute and unl.submission_type == "non_record"


def test_p2014_shape_from_dict(tmp_path):
    # The shape PR #2014 introduced (token counts and wallclock per seed, a logs map); values synthetic.
    raw = {
        "name": "x", "author": "a", "github_id": "a", "date": "2026-04-30", "track": "10min_16mb",
        "val_bpb": 1.0576, "val_loss": 2.3145, "bytes_total": 15990000, "seeds": [42, 0],
        "seed_results": {
            "42": {"val_bpb": 1.0575, "val_loss": 2.3143, "artifact_bytes": 15990000, "val_tokens": 47853344,
                   "target_tokens": 47853343, "train_wallclock_ms": 596123, "pre_quant_val_bpb": 1.06, "quantized_val_bpb": 1.07},
            "0": {"val_bpb": 1.0577, "val_loss": 2.3147, "artifact_bytes": 15980000, "val_tokens": 47853344,
                  "target_tokens": 47853343, "train_wallclock_ms": 596500},
        },
        "logs": {"seed42": "train_seed42.log", "seed0": "train_seed0.log"},
        "compliance": {"full_validation_targets": True},
    }
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-04-30_X"
    folder.mkdir(parents=True)
    (folder / "submission.json").write_text(json.dumps(raw))
    rec = LegacyRecord.from_path(folder)
    s = rec.seed_results["42"]
    assert (s.target_tokens, s.val_tokens, s.train_time_s) == (47853343, 47853344, pytest.approx(596.123))
    assert s.extra["quantized_val_bpb"] == 1.07
    assert rec.logs["seed42"] == "train_seed42.log" and rec.compliance["full_validation_targets"] is True
    assert rec.loss_bpb_pairs() == [(2.3143, 1.0575), (2.3147, 1.0577)]
    assert rec.warnings == []


def test_legacy_subset_count(records_dir):
    files = records.find_submission_files([records_dir])
    invalid = {f.parent.name for f in files if check_legacy_subset(json.loads(f.read_text()))}
    assert invalid == LEGACY_SUBSET_INVALID
    assert len(files) - len(invalid) == 50


def _example() -> dict:
    return json.loads(EXAMPLE_V1.read_text())


def test_v1_example_valid_and_strict():
    rec = _example()
    assert validate_record(rec) == []
    bad = copy.deepcopy(rec)
    bad["surprise"] = 1
    assert any("surprise" in e for e in validate_record(bad))
    bad = copy.deepcopy(rec)
    del bad["verification"]["policy"]["sha256"]
    assert any(e.startswith("verification/policy") for e in validate_record(bad))
    bad = copy.deepcopy(rec)
    bad["verification"]["unofficial_reasons"] = []  # smoke mode must say why it is unofficial
    assert any("unofficial_reasons" in e for e in validate_record(bad))
    bad = copy.deepcopy(rec)
    bad["verification"]["per_seed"]["1"]["verdicts"][0]["status"] = "MAYBE"
    assert any("verdicts/0/status" in e for e in validate_record(bad))
    bad = copy.deepcopy(rec)
    bad["seed_results"]["1"]["status"] = "failed"  # a failed seed needs its reason
    assert any("failure_reason" in e for e in validate_record(bad))
    bad = copy.deepcopy(rec)
    bad["date"] = "2026-11-24T07:00:00Z"  # records we write use days
    assert validate_record(bad)
    # Every upstream record lacks verification, so none passes v1.
    assert validate_record({"name": "x", "val_bpb": 1.2})


def test_write_record_validates_then_writes_atomically(tmp_path):
    dest = tmp_path / "run" / "submission.json"
    write_record(dest, _example())
    assert json.loads(dest.read_text()) == _example()
    bad = _example()
    bad["verification"]["mode"] = "fast"
    with pytest.raises(RecordInvalid) as exc:
        write_record(tmp_path / "bad.json", bad)
    assert "verification/mode" in str(exc.value)
    assert not (tmp_path / "bad.json").exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["run", "submission.json"]  # no temp files left


def test_written_record_is_readable_by_others(tmp_path):
    """mkstemp's 0600 used to survive the rename: a record on a shared box was private to its writer."""
    old = os.umask(0o022)
    try:
        dest = write_record(tmp_path / "submission.json", _example())
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644


def test_cli_validate_auto_detects(harness_cli, records_dir, tmp_path):
    def run(*args):
        res = harness_cli("record", "validate", *args)
        return SimpleNamespace(returncode=res.exit_code, stdout=res.stdout, stderr=res.stderr)

    p = run("-q", str(records_dir))
    assert p.returncode == 1, p.stderr
    assert "50 of 55 valid" in p.stdout
    assert p.stdout.count("INVALID (legacy)") == 5
    good = tmp_path / "submission.json"
    write_record(good, _example())
    p = run(str(good))
    assert p.returncode == 0 and "OK (v1)" in p.stdout, p.stdout + p.stderr
    p = run("--legacy", str(good))  # the example also meets the legacy subset
    assert p.returncode == 0 and "OK (legacy)" in p.stdout
    broken = tmp_path / "x" / "submission.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    p = run(str(broken))
    assert p.returncode == 1 and "not JSON" in p.stdout
    p = run(str(tmp_path / "nope.json"))
    assert p.returncode == 2 and "no such file" in p.stderr


def test_core_modules_import_without_torch():
    # A meta-path finder that refuses torch (setting sys.modules["torch"] = None instead breaks
    # scipy.stats, which probes sys.modules for torch).
    code = (
        "import sys\n"
        "class B:\n"
        "    def find_spec(self, n, p=None, t=None):\n"
        "        if n == 'torch' or n.startswith('torch.'): raise ImportError('no torch')\n"
        "sys.meta_path.insert(0, B())\n"
        "import harness.core.records, harness.core.stats, harness.core.prindex, harness.leaderboard.board\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
