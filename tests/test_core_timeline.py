"""Timeline + policies: DESIGN.md's golden values, a real stamped harness log, caps as data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.events import parse_file, parse_lines
from harness.core.policy import PolicyError, list_policies, load_policy
from harness.core.timeline import build_timeline

ROOT = Path(__file__).resolve().parents[1]
T10 = "track_10min_16mb"
LQER = f"{T10}/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611"
RR = f"{T10}/2026-04-29_SmearGateBOSFix_3Seed_1.06141"
VALCALIB = f"{T10}/2026-03-25_ValCalib_GPTQ_XSA_BigramHash3072"
VL13 = f"{T10}/2026-04-13_VarLenAttn_PhasingTTT2000"


def verdicts(path: Path, policy: str = "organizer-tda-v1", **params) -> dict:
    pol = load_policy(policy, **params)
    tl = build_timeline(parse_file(path), pol)
    return {v.name: v for v in pol.evaluate(tl)}, tl


@pytest.mark.parametrize("seed", ["seed0", "seed1234", "seed42"])
def test_lqer_fails_by_its_hessians(records_dir, seed) -> None:
    """Leaderboard #1 on main: loop 599.43-599.59 s + Hessians 4.6-4.9 s = 604.1-604.3 s (its 0.5 s reserve)."""
    (log,) = (records_dir / LQER).glob(f"train_{seed}*.log")
    v, tl = verdicts(log)
    assert v["train"].status == "FAIL" and 604.1 <= v["train"].value_s <= 604.35
    (hess,) = tl.by_role("post_loop_train_data")
    assert 4.6 <= hess.seconds <= 4.9 and hess.source == "script"
    assert v["eval"].status == "PASS"
    # decompression is counted once (the read-back the scored eval uses), the compile warm-up is excluded
    assert len(tl.by_role("decompression")) == 1 and tl.by_role("eval_compile")[0].excluded


def test_1868_rerun_passes(records_dir) -> None:
    v, tl = verdicts(records_dir / RR / "train_seed42_rerun_gptq8s.log")
    assert v["train"].status == "PASS" and v["train"].value_s == pytest.approx(595.554, abs=0.01)
    ap = v["artifact_production"]
    assert ap.status == "REPORTED" and ap.value_s == pytest.approx(1121.067) and ap.warnings  # > 300 s, not counted


def test_valcalib_self_generated_calibration_is_listed_not_counted(records_dir) -> None:
    v, tl = verdicts(records_dir / VALCALIB / "train_seed314.log")
    assert v["train"].status == "PASS_GRACE" and v["train"].value_s == pytest.approx(600.109)
    assert v["train"].warnings and "grace" in v["train"].warnings[0]
    calib = tl.by_role("calibration_no_train_data")
    assert any(s.seconds == pytest.approx(196.7) and s.excluded for s in calib)


def test_epoch_stamped_log_is_measured_on_its_clock(records_dir) -> None:
    v, tl = verdicts(records_dir / VL13 / "logs/train0.txt")
    assert tl.clock == "epoch"
    (loop,) = tl.by_role("loop")
    assert loop.source == "harness" and loop.seconds == pytest.approx(629.97, abs=0.05)
    assert loop.script_seconds == pytest.approx(587.091)
    (pauses,) = tl.by_role("val_pause")
    assert 40.0 < pauses.seconds <= loop.seconds - loop.script_seconds  # capped by the script's own timer
    # 599.87 s, but train_time printed in minutes (one decimal) leaves +/- 3 s on one val pause
    assert v["train"].value_s == pytest.approx(599.87, abs=0.05)
    assert v["train"].status == "UNDETERMINED" and "straddles" in v["train"].detail
    # a subtracted part reads as a subtraction ("- validation pauses 42.8"), never "+ validation pauses -42.8"
    assert f"training loop 630.0 + GPTQ Hessian calibration 12.7 - validation pauses {pauses.seconds:.1f}" \
        in v["train"].detail
    assert tl.by_role("scored_eval")[0].seconds == pytest.approx(500.104, abs=0.01)
    strict, _ = verdicts(records_dir / VL13 / "logs/train0.txt", "strict")
    assert strict["train"].status == "FAIL" and not strict["train"].lower_bound  # a real span, not a bound


def test_minute_precision_can_leave_a_verdict_undetermined(records_dir) -> None:
    v, _ = verdicts(records_dir / VL13 / "logs/train2.txt")
    assert v["train"].status == "UNDETERMINED" and "precision" in v["train"].detail
    assert v["train"].value_s == pytest.approx(602.37, abs=0.05)


def test_strict_without_stamps_only_proves_fails(records_dir) -> None:
    v, _ = verdicts(records_dir / LQER / "train_seed42.log", "strict")
    assert v["train"].status == "FAIL" and v["train"].lower_bound
    v, _ = verdicts(records_dir / f"{T10}/2026-03-17_NaiveBaseline/train.log", "strict")
    assert v["eval"].status == "UNDETERMINED"


def _stamped(lines: list[tuple[float, str]]) -> list:
    return parse_lines([f"{t:.3f} {s}" for t, s in lines])


def test_harness_stamped_log_unexplained_gap_and_val_pause() -> None:
    evs = _stamped([(5.0, "step:1/100 train_loss:3.0 train_time:100ms step_avg:100ms"),
                    (6.0, "step:10/100 train_loss:2.9 train_time:1000ms step_avg:100ms"),
                    (9.1, "step:10/100 val_loss:2.8 val_bpb:1.5 train_time:1000ms step_avg:100ms"),  # 3.1 s val
                    (20.0, "step:20/100 train_loss:2.7 train_time:2000ms step_avg:100ms"),  # 9.9 s unexplained
                    (21.0, "stopping_early: wallclock_cap train_time:3000ms step:30/100"),
                    (21.5, "Total submission size int8+zlib: 1000 bytes"),
                    (22.0, "final_int8_zlib_roundtrip val_loss:2.8 val_bpb:1.5 eval_time:400ms"),
                    (22.0, "final_int8_zlib_roundtrip_exact val_loss:2.80000000 val_bpb:1.50000000")])
    pol = load_policy("smoke", train_seconds=10, eval_seconds=5)
    tl = build_timeline(evs, pol)
    assert tl.clock == "harness" and tl.anchor_t("timer_start") == pytest.approx(4.9)
    (loop,) = tl.by_role("loop")
    assert loop.seconds == pytest.approx(16.1) and loop.source == "harness"
    assert tl.by_role("val_pause")[0].seconds == pytest.approx(3.1)
    assert any(f["rule"] == "timeline.unexplained_gap" and f["seconds"] == pytest.approx(9.9) for f in tl.findings)
    v = {x.name: x for x in pol.evaluate(tl)}
    assert v["train"].status == "FAIL" and v["train"].value_s == pytest.approx(13.0) and not v["train"].official
    # The harness's stamps give 0.5 s (size line -> headline): its figure wins over the printed 0.4 s.
    assert v["eval"].status == "PASS" and v["eval"].value_s == pytest.approx(0.5)
    assert not any(f["rule"] == "timing.printed_vs_stamped" for f in tl.findings)  # within 1 s


def test_a_printed_eval_time_below_the_stamped_span_is_replaced_and_flagged() -> None:
    """A 40 s eval that prints eval_time:500ms is judged on the harness's 40 s, with a finding."""
    evs = _stamped([(5.0, "step:1/100 train_loss:3.0 train_time:100ms step_avg:100ms"),
                    (6.0, "stopping_early: wallclock_cap train_time:1000ms step:1/100"),
                    (6.5, "Total submission size int8+zlib: 1000 bytes"),
                    (46.5, "final_int8_zlib_roundtrip val_loss:2.8 val_bpb:1.5 eval_time:500ms"),
                    (46.5, "final_int8_zlib_roundtrip_exact val_loss:2.80000000 val_bpb:1.50000000")])
    pol = load_policy("smoke", train_seconds=10, eval_seconds=5)
    tl = build_timeline(evs, pol)
    (ev,) = tl.by_role("scored_eval")
    assert ev.seconds == pytest.approx(40.0) and ev.source == "harness" and ev.script_seconds == pytest.approx(0.5)
    assert any(f["rule"] == "timing.printed_vs_stamped" for f in tl.findings)
    v = {x.name: x for x in pol.evaluate(tl)}
    assert v["eval"].status == "FAIL"


def test_a_marker_gains_at_most_its_cap() -> None:
    evs = _stamped([(1.0, "step:1/2 train_loss:3 train_time:10ms step_avg:10ms"),
                    (2.0, "stopping_early: wallclock_cap train_time:1000ms step:2/2"),
                    (3.0, "Total submission size quantized+brotli: 10 bytes"),
                    (4.0, "ttt_lora:warming up compile (random tokens, no val data)"),
                    (454.0, "ttt_lora:compile warmup done (450.0s)"),
                    (455.0, "beginning TTT eval timer"),
                    (855.0, "quantized_ttt_phased val_loss:2.3 val_bpb:1.06 eval_time:400000ms")])
    pol = load_policy("organizer-tda-v1")
    v = {x.name: x for x in pol.evaluate(build_timeline(evs, pol))}
    assert v["eval"].value_s == pytest.approx(400.0 + 150.0) and v["eval"].status == "PASS"
    assert any("only 300 s may be excluded" in w for w in v["eval"].warnings)


def test_policies_are_data() -> None:
    assert {"organizer-tda-v1", "strict", "smoke", "acceptance-readme",
            "acceptance-organizer-2026-05"} <= set(list_policies())
    assert set(list_policies("timing")) == {"organizer-tda-v1", "strict", "smoke"}
    tda = load_policy("organizer-tda-v1")
    assert len(tda.sha256) == 64 and tda.official and tda.cap("train") == 600.0
    caps = tda.live_caps()
    assert caps["train_s"] == 630.0 and caps["silence"]["launch"] == 600.0 and caps["total_s"] == 2700.0
    smoke = load_policy("smoke", train_seconds=20, eval_seconds=8)
    assert smoke.cap("train") == 20.0 and smoke.cap("eval") == 8.0 and not smoke.official
    assert smoke.live_caps()["train_s"] == pytest.approx(620.0) and smoke.ref()["params"]["train_seconds"] == 20.0
    with pytest.raises(PolicyError, match="no policy"):
        load_policy("no-such-policy")
    with pytest.raises(PolicyError, match="no \\[timing\\]"):
        load_policy("acceptance-readme").evaluate(None)


def test_live_caps_feed_the_supervisor() -> None:
    from harness.phases import LiveCaps

    caps = LiveCaps.from_policy(load_policy("smoke", train_seconds=10, eval_seconds=10).live_caps())
    assert caps.train_s == pytest.approx(610.0) and caps.silence_for("launch", False) == 600.0


def test_a_real_harness_log(supervised_reference_run) -> None:
    """The reference trainer under the supervisor: the harness clock measures what the script says."""
    _data, _work, log = supervised_reference_run
    pol = load_policy("smoke", train_seconds=3, eval_seconds=60)
    tl = build_timeline(parse_file(log), pol)
    assert tl.clock == "harness"
    (loop,) = tl.by_role("loop")
    pauses = sum(s.seconds for s in tl.by_role("val_pause"))
    assert loop.source == "harness" and pauses > 0
    # our clock and the script's timer agree on the training time to within a second on any machine
    assert abs(loop.seconds - pauses - loop.script_seconds) < 1.0, (loop, pauses)
    v = {x.name: x for x in pol.evaluate(tl)}
    assert v["train"].status in ("PASS", "PASS_GRACE") and v["eval"].status == "PASS"


def test_log_cli(harness_cli, records_dir) -> None:
    log = records_dir / LQER / "train_seed42.log"
    p = harness_cli("log", "timeline", log, "--json")
    assert p.exit_code == 1  # the train verdict FAILs under organizer-tda-v1
    a = json.loads(p.stdout)
    assert a["headline"]["name"] == "quantized_ttt_phased" and a["summary"]["seed"] == 42
    p = harness_cli("log", "events", log, "--kind", "stop")
    assert p.exit_code == 0 and json.loads(p.stdout.splitlines()[0])["fields"]["step"] == 4945
    p = harness_cli("log", "timeline", log, "--policy", "nope")
    assert p.exit_code == 2 and "no timing policy 'nope'" in p.stderr


def test_a_run_killed_inside_its_loop_fails_on_the_kill_time() -> None:
    """A #1894 smoke on one GPU: steps to 10, a silent recompile, killed by the train cap 165 s after its timer
    started. Its last step line is at 9.6 s of loop: the verdict must use the kill, not the last line."""
    lines = [(340.317, "step:0/20000 val_loss:8.5596 val_bpb:11.0204 train_time:0ms step_avg:0.02ms")]
    lines += [(340.317 + 0.97 * i, f"step:{i}/20000 train_loss:5.0 train_time:{970 * i}ms step_avg:970ms")
              for i in range(1, 11)]
    lines += [(379.616, "layer_loop:enabled step:40 frac:0.426")]
    evs = _stamped(lines)
    pol = load_policy("smoke", train_seconds=90, eval_seconds=240)
    tl = build_timeline(evs, pol, run_end=505.3, killed="killed: train cap 165 s exceeded")
    v = {x.name: x for x in pol.evaluate(tl)}
    assert v["train"].status == "FAIL" and v["train"].value_s == pytest.approx(505.3 - 340.317)
    assert any(f["rule"] == "timeline.killed_in_loop" for f in tl.findings)
    # the same log without the supervisor's word: the loop's end was not seen, so it is only a lower bound
    tl = build_timeline(evs, pol)
    v = {x.name: x for x in pol.evaluate(tl)}
    assert v["train"].status == "UNDETERMINED" and v["train"].lower_bound


def test_post_loop_qat_counts_what_the_script_measured() -> None:
    """A script that reserves 30 s after its loop for QAT on training batches and prints how long the QAT
    really ran (#107's format): T counts the printed 30.132 s, not the 30.0 s reservation (570.065 + 30.132
    = 600.197 s, within the grace); without the stop line the reservation stands in, marked derived."""
    lines = ["post_qat:reserving 30.0s (main_loop:570.0s)",
             "step:0/20000 val_loss:6.9 val_bpb:4.1 train_time:0ms step_avg:0.01ms",
             "step:9918/20000 train_loss:2.0 train_time:570065ms step_avg:57.48ms",
             "stopping_early: wallclock_cap train_time:570065ms step:9918/20000",
             "post_qat:starting reserved_seconds=30.0 lr=0.001",
             "post_qat step:180 loss:1.9027 elapsed:29007ms",
             "post_qat:wallclock_stop at step 186 elapsed:30132ms",
             "Total submission size int8+zstd: 15925577 bytes",
             "final_int8_zstd_roundtrip_exact val_loss:3.5 val_bpb:1.16483584"]
    pol = load_policy("organizer-tda-v1")
    tl = build_timeline(parse_lines(lines), pol)
    (qat,) = tl.by_role("post_loop_train_data")
    assert qat.seconds == pytest.approx(30.132) and qat.source == "script"
    v = {x.name: x for x in pol.evaluate(tl)}
    assert v["train"].value_s == pytest.approx(600.197) and v["train"].status == "PASS_GRACE"
    without = [ln for ln in lines if "wallclock_stop" not in ln]
    tl = build_timeline(parse_lines(without), pol)
    (qat,) = tl.by_role("post_loop_train_data")
    assert qat.seconds == pytest.approx(30.0) and qat.source == "derived"


def test_a_run_that_ended_before_its_scored_eval_has_only_a_lower_bound_for_e() -> None:
    """#2014's compiled smoke on the H200 (2026-12-01): the artifact was written and decompressed
    (36.5 s, counted toward E), then the run ended in its TTT compile. Decompression alone must not
    read as a passing eval: E is at least 36.5 s, UNDETERMINED. With the headline it is judged."""
    lines = [(843.4, "1/20000 train_loss: 8.9548 train_time: 0.1m tok/s: 150903"),
             (980.3, "stopping_early: wallclock_cap train_time: 56402ms step: 9/20000"),
             (1407.7, "Total submission size quantized+pergroup: 15947362 bytes"),
             (1408.2, "Deserialize: per-group lrzip decompression..."),
             (1445.5, "Deserialize: decompression done in 37.3s"),
             (1615.0, "diagnostic quantized val_loss:8.53545896 val_bpb:4.08293743 eval_time:169385ms"),
             (1615.5, "Deserialize: per-group lrzip decompression..."),
             (1652.0, "Deserialize: decompression done in 36.5s"),
             (1652.1, "ttt_lora:warming up compile (random tokens, no val data)")]
    pol = load_policy("smoke", train_seconds=60, eval_seconds=600)
    v = {x.name: x for x in pol.evaluate(build_timeline(_stamped(lines), pol))}
    assert v["eval"].status == "UNDETERMINED" and v["eval"].lower_bound
    assert v["eval"].value_s == pytest.approx(36.5, abs=0.1)
    assert any("no scored_eval segment" in w for w in v["eval"].warnings)
    done = lines + [(1990.0, "ttt_lora:compile warmup done (337.9s)"), (1990.1, "beginning TTT eval timer"),
                    (2050.1, "quantized_ttt_phased val_loss:8.5 val_bpb:4.07 eval_time:60000ms")]
    v = {x.name: x for x in pol.evaluate(build_timeline(_stamped(done), pol))}
    assert v["eval"].status == "PASS" and not v["eval"].lower_bound


def test_a_timer_printed_in_minutes_is_bounded_by_every_step_line_and_the_first_line() -> None:
    """#2014 eager on the H200 (sixth device session): its step lines print train_time in minutes with
    one decimal. The first one (0.3m at 27.711 s) alone put the timer at 9.7 s, before the process's
    first line, so startup came out negative and the loop 3 s too long. Every step line before the
    first validation pass bounds the start; with the first line (11.837 s) they leave 11.837-12.711 s."""
    lines = [(11.837, "gptq:reserving 4s, effective=26000ms"),
             (27.711, "1/20000 train_loss: 8.9472 train_time: 0.3m tok/s: 49563"),
             (37.052, "2/20000 train_loss: 11.5573 train_time: 0.4m tok/s: 62394"),
             (52.485, "3/20000 train_loss: 11.6174 train_time: 0.7m tok/s: 58046"),
             (53.116, "3/20000 val_loss: 10.9629 val_bpb: 5.1230"),
             (53.116, "stopping_early: wallclock_cap train_time: 40661ms step: 3/20000")]
    tl = build_timeline(_stamped(lines))
    (startup,) = tl.by_role("startup")
    (loop,) = tl.by_role("loop")
    assert startup.seconds == pytest.approx(0.437) and startup.uncertainty_s == pytest.approx(0.437)
    assert loop.seconds == pytest.approx(53.116 - 12.274) and loop.uncertainty_s == pytest.approx(0.437)
    # the script's own ms figure at the stop lies inside what the clock allows
    assert abs(loop.seconds - 40.661) <= loop.uncertainty_s
    # printed in ms, the first step line is taken as it is, with no uncertainty
    ms = [(11.2, "x"), (20.0, "step:1/20000 train_loss:8.9 train_time:5000ms step_avg:5000.00ms"),
          (30.0, "step:2/20000 train_loss:8.1 train_time:15000ms step_avg:7500.00ms"),
          (30.5, "stopping_early: wallclock_cap train_time:15000ms step:2/20000")]
    tl = build_timeline(_stamped(ms))
    (loop,) = tl.by_role("loop")
    assert loop.start == pytest.approx(15.0) and loop.uncertainty_s == 0.0
