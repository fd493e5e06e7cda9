"""The formats of trainer log lines: the table that turns one line into typed fields.

:mod:`harness.core.events` runs the state machine around lines (stamps, the
hyperparameter block, embedded source dumps); this module is the data it
consults. The regex table :data:`PATTERNS` names per row the event kind, the
regex, how its groups become fields, and a real example line (a test checks
every row matches its example). Rows are tried in order and a line yields the
events of every row that matches, unless a row says ``final`` (stop there).
:func:`row_fields` turns one row's match into the event's fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

# ----------------------------------------------------------------- field converters

def _ms(x: str) -> float:
    return float(x) / 1000.0


def _minutes(x: str) -> float:
    return float(x) * 60.0


def _num(x: str) -> float:
    return float(x)


def _int(x: str) -> int:
    return int(x.replace(",", "").replace("_", ""))


def _bool(x: str) -> bool:
    return x.strip().lower() in ("true", "1", "yes", "enabled")


@dataclass(frozen=True)
class Pattern:
    """One row of the classifier table."""

    kind: str
    regex: re.Pattern[str]
    fields: dict[str, Callable[[str], Any]]  # named group -> converter
    example: str
    const: dict[str, Any] = field(default_factory=dict)  # fields every match gets
    final: bool = True


def P(kind: str, rx: str, example: str, final: bool = True, **spec: Any) -> Pattern:
    """Build a table row. ``spec``: group name -> converter, or ``const_<name>`` -> a constant."""
    conv = {k: v for k, v in spec.items() if not k.startswith("const_")}
    const = {k[len("const_"):]: v for k, v in spec.items() if k.startswith("const_")}
    return Pattern(kind, re.compile(rx), conv, example, const, final)


_F = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"  # a printed float

# Metric lines: "<name> val_loss:<x> val_bpb:<y> ... eval_time:<ms>ms". Names may contain
# spaces ("diagnostic pre-quantization post-ema"); some lines put stride first.
_METRIC = (r"^(?P<name>[A-Za-z][\w+\-]*(?: [A-Za-z][\w+\-]*)*?)(?: stride:(?P<stride>\d+))?(?: [a-z_]+:[^\s:]+)*?"
           rf" val_loss[:=] ?(?P<val_loss>{_F}) val_bpb[:=] ?(?P<val_bpb>{_F})(?P<rest>.*)$")

PATTERNS: list[Pattern] = [
    # --- training loop -------------------------------------------------------------
    P("val", rf"^step:(?P<step>\d+)/(?P<total>\d+) val_loss:(?P<val_loss>{_F}) val_bpb:(?P<val_bpb>{_F})"
      r"(?: train_time:(?P<train_time_s>\d+(?:\.\d+)?)ms)?",
      "step:0/20000 val_loss:6.9370 val_bpb:4.0978 train_time:0ms step_avg:0.01ms",
      step=int, total=int, val_loss=_num, val_bpb=_num, train_time_s=_ms),
    P("val", rf"^(?P<step>\d+)/(?P<total>\d+) val_loss: (?P<val_loss>{_F}) val_bpb: (?P<val_bpb>{_F})",
      "4945/20000 val_loss: 2.3539 val_bpb: 1.0756", step=int, total=int, val_loss=_num, val_bpb=_num),
    P("step", r"^step:(?P<step>\d+)/(?P<total>\d+) (?:\[[^\]]*\] )?(?:train_)?loss:(?P<train_loss>\S+)"
      r".*? (?:train_time|t):(?P<train_time_s>\d+(?:\.\d+)?)ms",
      "step:13750/20000 train_loss:1.9910 train_time:598726ms step_avg:43.54ms",
      step=int, total=int, train_loss=_num, train_time_s=_ms),
    P("step", r"^(?P<step>\d+)/(?P<total>\d+) train_loss: (?P<train_loss>\S+) train_time: (?P<train_time_s>[\d.]+)m"
      r"(?: tok/s: (?P<tok_per_s>\d+))?",
      "4500/20000 train_loss: 2.2771 train_time: 9.0m tok/s: 6589668",
      step=int, total=int, train_loss=_num, train_time_s=_minutes, tok_per_s=_num),
    P("step", r"^step:(?P<step>\d+)/(?P<total>\d+) (?:val_loss:\S+ )?train_time:(?P<train_time_s>\d+(?:\.\d+)?)ms",
      "step:200/20000 train_time:35123ms step_avg:175.62ms", step=int, total=int, train_time_s=_ms),
    P("warmup", r"^(?P<what>[a-z_0-9]*warmup[a-z_0-9]*):? ?(?P<step>\d+)/(?P<total>\d+)",
      "loop_warmup_step: 20/20", what=str, step=int, total=int),
    P("stop", r"^stopping_early: (?P<reason>\w+) train_time: ?(?P<train_time_s>\d+(?:\.\d+)?)ms"
      r"(?: step: ?(?P<step>\d+)/(?P<total>\d+))?",
      "stopping_early: wallclock_cap train_time: 599592ms step: 4945/20000",
      reason=str, train_time_s=_ms, step=int, total=int),
    P("memory", r"^peak memory(?: allocated)?: (?P<allocated_mib>\d+) MiB(?: reserved: (?P<reserved_mib>\d+) MiB)?",
      "peak memory allocated: 41717 MiB reserved: 47140 MiB", allocated_mib=int, reserved_mib=int),
    # --- budget reserves ---------------------------------------------------------------
    P("gptq_reserve", r"^gptq:reserving (?P<reserve_s>\d+(?:\.\d+)?)s, effective=(?P<effective_s>\d+)ms",
      "gptq:reserving 0s, effective=599500ms", reserve_s=_num, effective_s=_ms),
    P("gptq_reserve", r"^gptq:reserving (?P<reserve_s>\d+)ms from training budget, effective=(?P<effective_s>\d+)ms",
      "gptq:reserving 14000ms from training budget, effective=586000ms", reserve_s=_ms, effective_s=_ms),
    P("gptq_reserve", r"^post_qat:reserving (?P<reserve_s>[\d.]+)s \(main_loop:(?P<effective_s>[\d.]+)s\)",
      "post_qat:reserving 30.0s (main_loop:570.0s)", reserve_s=_num, effective_s=_num, const_what="post_qat"),
    # --- post-loop training-data use, quantization, serialization ----------------------
    P("post_qat", r"^post_qat:wallclock_stop at step (?P<step>\d+) elapsed:(?P<seconds>\d+)ms",
      "post_qat:wallclock_stop at step 186 elapsed:30132ms", step=int, seconds=_ms, const_uses_train_data=True),
    P("hessians", r"^GPTQ:collecting Hessians", "GPTQ:collecting Hessians from calibration data...",
      const_phase="begin", const_uses_train_data=True),
    P("hessians", r"^GPTQ:collected (?P<count>\d+) Hessians in (?P<seconds>[\d.]+)s",
      "GPTQ:collected 67 Hessians in 4.7s", count=int, seconds=_num, const_phase="end",
      const_uses_train_data=True),
    P("hessians", r"^gptq:collected hessians for (?P<count>\d+) layers \((?P<source>[^)]*)\)",
      "gptq:collected hessians for 68 layers (AR self-gen)", count=int, source=str, const_phase="end"),
    P("calibration", r"^gptq:generating autoregressive calibration data",
      "gptq:generating autoregressive calibration data (64 seqs x 2048 tokens, temp=0.8)...",
      const_phase="begin", const_uses_train_data=False),
    P("calibration", r"^gptq:generated (?P<count>\d+) sequences in (?P<seconds>[\d.]+)s",
      "gptq:generated 64 sequences in 196.7s", count=int, seconds=_num, const_phase="end",
      const_uses_train_data=False),
    P("serialize", r"^Serialize: .*compression\.\.\.", "Serialize: per-group lrzip compression...",
      const_phase="begin"),
    P("serialize", r"^Serialize: .*compression done in (?P<seconds>[\d.]+)s",
      "Serialize: per-group compression done in 99.9s", seconds=_num, const_phase="end", const_what="compress"),
    P("serialize", r"^GPTQ:quantized in (?P<seconds>[\d.]+)s", "GPTQ:quantized in 10.2s",
      seconds=_num, const_phase="end", const_what="quantize"),
    P("serialize", r"^GPTQ:compressed\+saved in (?P<seconds>[\d.]+)s", "GPTQ:compressed+saved in 67.0s",
      seconds=_num, const_phase="end", const_what="compress"),
    P("serialize", r"^serialize_wallclock: (?P<seconds>[\d.]+)s", "serialize_wallclock: 81.816s",
      seconds=_num, const_phase="end", const_what="serialize_wallclock"),
    P("serialize", r"^artifact_production_wallclock: (?P<seconds>[\d.]+)s",
      "artifact_production_wallclock: 1121.067s (must be < 600.0)", seconds=_num, const_phase="end",
      const_what="artifact_production_wallclock"),
    P("deserialize", r"^Deserialize: .*decompression\.\.\.", "Deserialize: per-group lrzip decompression...",
      const_phase="begin"),
    P("deserialize", r"^Deserialize: decompression done in (?P<seconds>[\d.]+)s",
      "Deserialize: decompression done in 20.4s", seconds=_num, const_phase="end"),
    # --- sizes ----------------------------------------------------------------------------
    P("size", r"^Serialized model: ?(?P<bytes>\d+) ?bytes", "Serialized model: 67224983 bytes",
      bytes=int, const_what="model_raw"),
    P("size", r"^Serialized model (?P<suffix>[^:]+): ?(?P<bytes>\d+) ?bytes",
      "Serialized model quantized+pergroup: 15865260 bytes", bytes=int, suffix=str, const_what="model"),
    P("size", r"^Code size: (?P<code>[\d,]+) bytes\s+\|\s+Total artifact: (?P<bytes>[\d,]+) bytes",
      "Code size: 254,613 bytes  |  Total artifact: 15,943,077 bytes", bytes=_int, code=_int, const_what="total"),
    P("size", r"^Code size: (?P<bytes>\d+) bytes", "Code size: 47642 bytes", bytes=int, const_what="code"),
    P("size", r"^Code size \(uncompressed\): (?P<bytes>\d+) bytes", "Code size (uncompressed): 157868 bytes",
      bytes=int, const_what="code_raw"),
    P("size", r"^Code size \(compressed\): (?P<bytes>\d+) bytes", "Code size (compressed): 31999 bytes",
      bytes=int, const_what="code_compressed"),
    P("size", r"^Total submission size: ?(?P<bytes>\d+) ?bytes", "Total submission size: 67272625 bytes",
      bytes=int, const_what="total_raw"),
    P("size", r"^Total submission (?:size )?(?P<suffix>[^:]+): ?(?P<bytes>\d+) ?bytes",
      "Total submission size quantized+pergroup: 15897259 bytes", bytes=int, suffix=str, const_what="total"),
    # other scripts' artifact lines (thousands separators allowed): the artifact the log reports, code included
    P("size", r"^Artifact: [\d,]+ bytes, code: (?P<code>[\d,]+) bytes, total: (?P<bytes>[\d,]+) bytes",
      "Artifact: 15843210 bytes, code: 61234 bytes, total: 15904444 bytes", bytes=_int, code=_int,
      const_what="total"),
    P("size", r"^serialized_model_(?P<suffix>[a-z0-9_]+):(?P<bytes>\d+) bytes",
      "serialized_model_int8_zlib:15815847 bytes (payload:17178912 raw_pickle:17224025 payload_ratio:3.91x)",
      bytes=int, suffix=str, const_what="model"),
    P("size", r"^(?:total_submission_bytes|artifact_size_bytes):\s*(?P<bytes>\d+)$", "total_submission_bytes:15863489",
      bytes=int, const_what="total"),
    P("size", r"^(?:Artifact|Artifact size|Total artifact): +(?P<bytes>\d[\d,]*) bytes",
      "Artifact: 15,143,381 bytes (14.44 MB)", bytes=_int, const_what="total"),
    P("size", r"^(?:artifact|compressed_blob)_bytes: ?(?P<bytes>\d+)(?: code_bytes: ?(?P<code>\d+) total: ?(?P<total>\d+))?$",
      "artifact_bytes:15812345 code_bytes:60123 total:15872468", bytes=int, code=int, total=int,
      const_what="total"),
    # More wordings of the compressed total and model (a "total" group is the total, "bytes" then the model)
    P("size", r"^(?:Total submission|Submission size): ?(?P<bytes>\d+) ?bytes", "Total submission: 14775058 bytes",
      bytes=int, const_what="total"),
    P("size", r"^(?:Serialized (?!model\b)|Quantized model \()(?P<suffix>[^:()]*?(?:zlib|zstd|lzma|brotli|xz|quantized)"
      r"[^:()]*)\)?: ?(?P<bytes>\d+) ?bytes(?:\s+Total: (?P<total>\d+) bytes)?",
      "Serialized quantized+brotli: 15990993 bytes", bytes=int, suffix=str, total=int, const_what="model"),
    P("size", r"^(?:model_)?(?P<suffix>[\w+-]*(?:zlib|zstd|lzma|brotli)[\w+-]*): ?(?P<bytes>\d+) bytes,?\s+"
      r"(?:code:\d+ bytes\s+)?total: ?(?P<total>\d+) bytes", "mixed_int5_int6+lzma-9: 15722010 bytes, total: 15788084 bytes",
      bytes=int, suffix=str, total=int, const_what="model"),
    P("size", r"^artifact: ?(?P<bytes>\d+) ?bytes(?: \([\d.]+MB\))? code:\d+ total:(?P<total>\d+) bytes",
      "artifact:13282430 bytes (13.3MB) code:55037 total:13337467 bytes", bytes=int, total=int, const_what="total"),
    P("size", r"^artifact: ?(?P<bytes>\d+) ?bytes \(model:\d+ code:\d+\)", "artifact: 16324677 bytes (model:16279396 code:45281)",
      bytes=int, const_what="total"),
    P("size", r"^artifact: (?P<bytes>\d+)B model \+ \d+B code = (?P<total>\d+)B",
      "artifact: 15880320B model + 59012B code = 15939332B (compression:3.1x)", bytes=int, total=int, const_what="total"),
    P("size", r"^budget:(?P<bytes>\d+)/\d+ \(", "budget:15995705/16000000 (16.00/16.00MB) FITS", bytes=int,
      const_what="total"),
    P("size", r"^\[RESULT\] .*\| size=(?P<bytes>\d[\d,]*)B \|", "[RESULT] run=9b13b924 | score=1.1888 | size=15,154,068B | "
      "✓ fits 16MB | OK | 1071s", bytes=_int, const_what="total"),
    # the artifact as one key of a longer line (a metric line, a run summary): read, and the line read on. A bare
    # "artifact_bytes" is the total in some scripts and the model alone in others: it counts only where no total does.
    P("size", r"(?:^|[\s:])(?:total_artifact_bytes|total_submission_bytes)[:=](?P<bytes>\d+)\b",
      "final_int8_zlib_roundtrip compressed_model_bytes:15524119 code_bytes:55299 total_artifact_bytes:15579418",
      bytes=int, const_what="total", final=False),
    P("size", r"(?:^|[\s:])artifact_bytes[:=](?P<bytes>\d+)\b",
      "final_quant_roundtrip val_loss:1.9 val_bpb:1.12 eval_time:9000ms artifact_bytes:15204466", bytes=int,
      const_what="artifact", final=False),
    # --- eval --------------------------------------------------------------------------
    P("marker", r"^ttt_lora:warming up compile|^\S*warming up compile", "ttt_lora:warming up compile (random tokens, no val data)",
      const_id="eval_compile_begin"),
    P("marker", r"compile warm-?up done \((?P<seconds>[\d.]+)s\)", "ttt_lora:compile warmup done (137.6s)",
      seconds=_num, const_id="eval_compile_end"),
    P("marker", r"^beginning TTT eval timer", "beginning TTT eval timer", const_id="eval_timer_start"),
    P("marker", r"^ema:applying EMA", "ema:applying EMA weights", const_id="ema"),
    P("target_tokens", r"^ttt_phased:.* target_tokens:(?P<target_tokens>\d+)",
      "ttt_phased: total_docs:50000 prefix_docs:2500 suffix_docs:47500 num_phases:3 boundaries:[833, 1666, 2500] "
      "target_tokens:47853343", target_tokens=int, final=False),
    P("eval_total", r"^total_eval_time:(?P<seconds>[\d.]+)s", "total_eval_time:508.8s", seconds=_num),
    P("progress", r"^(?:ttp|ttpp|ttpr|tttg|ttt_progress|ttt_sliding:done|ttt_rank_batches)[: ]",
      "tttg: c1/131 lr:0.001000 t:0.3s"),
    P("metric", _METRIC, "quantized_ttt_phased val_loss:2.31944212 val_bpb:1.05989454 eval_time:508785ms",
      name=str, stride=int, val_loss=_num, val_bpb=_num, rest=str),
    # a metric line behind a "Final BPB: " label, and bare BPB figures of scripts that print no val_loss
    P("metric", r"^Final BPB: " + _METRIC[1:],
      "Final BPB: final_int8_sliding_window_exact val_loss:1.93251109 val_bpb:1.14453112",
      name=str, stride=int, val_loss=_num, val_bpb=_num, rest=str),
    P("metric", rf"^(?P<name>[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)?) BPB(?: \((?P<variant>[^)]*)\))?: (?P<val_bpb>{_F})\s*$",
      "Quantized BPB (no XSA): 1.007057", name=str, variant=str, val_bpb=_num),
    # (a spread over seeds, "std_ttt_val_bpb: 0.0003", is no metric of a run)
    P("metric", rf"^(?P<name>(?!(?:std|stdev|sd|var|delta|diff)_)(?:[a-z0-9]+_)*val_bpb): (?P<val_bpb>{_F})\s*$",
      "final_export_val_bpb: 1.1532",
      name=str, val_bpb=_num),
    P("metric", rf"^(?P<name>FINAL|Final|final) val_bpb: (?P<val_bpb>{_F})\s*$", "FINAL val_bpb: 1.4967", name=str,
      val_bpb=_num),
    # compact metric lines ("q_sw vl:1.9 bpb:1.12 s:64 t:70000ms"): short names, vl/bpb/t keys
    P("metric", rf"^(?P<name>[a-z][a-z0-9_]*) vl:(?P<val_loss>{_F}) bpb:(?P<val_bpb>{_F})(?P<rest>.*)$",
      "q_sw_x vl:1.90301335 bpb:1.12707468", name=str, val_loss=_num, val_bpb=_num, rest=str),
    # --- run facts -----------------------------------------------------------------------
    P("seed", r"^seed:(?P<seed>\d+)$", "seed:1337", seed=int),
    P("world", r"^world_size:(?P<world_size>\d+)(?: grad_accum_steps:(?P<grad_accum_steps>\d+))?",
      "world_size:8 grad_accum_steps:1", world_size=int, grad_accum_steps=int),
    P("train_shards", r"^train_loader:dataset:(?P<dataset>\S+) train_shards:(?P<train_shards>\d+)",
      "train_loader:dataset:fineweb10B_sp1024 train_shards:25", dataset=str, train_shards=int),
    P("train_shards", r"^train_shards: ?(?P<train_shards>\d+)$", "train_shards: 128", train_shards=int),
    P("val_tokens", r"^val_loader:shards pattern=(?P<pattern>\S+) tokens:(?P<val_tokens>\d+)",
      "val_loader:shards pattern=./data/datasets/fineweb10B_sp1024/fineweb_val_*.bin tokens:62021632",
      pattern=str, val_tokens=int),
    P("val_tokens", r"^val_loader:tokens:(?P<val_tokens>\d+)$", "val_loader:tokens:99328", val_tokens=int),
    P("val_tokens", r"^val_tokens: ?(?P<val_tokens>\d+)(?: val_sequences:(?P<val_sequences>\d+))?",
      "val_tokens: 47851520", val_tokens=int, val_sequences=int),
    P("caseops", r"^val_bpb:byte_sidecar:(?P<enabled>enabled|disabled)", "val_bpb:byte_sidecar:enabled",
      enabled=_bool),
    P("env", r"^Running Python (?P<python_version>\S+)", "Running Python 3.10.12 (main, Mar  3 2026, 11:56:32)",
      python_version=str),
    P("env", r"^Running PyTorch (?P<torch_version>\S+)", "Running PyTorch 2.9.1+cu128", torch_version=str),
    P("env", r"Driver Version: (?P<driver>\S+)\s+CUDA Version: (?P<cuda>\S+)",
      "| NVIDIA-SMI 565.57.01              Driver Version: 565.57.01      CUDA Version: 13.0     |",
      driver=str, cuda=str),
    P("env", r"^\|\s+(?P<gpu_index>\d+)\s+(?P<gpu_name>NVIDIA [^|]*?|Tesla [^|]*?)\s+(?:On|Off)\s+\|",
      "|   0  NVIDIA H100 80GB HBM3          On  |   00000001:00:00.0 Off |                    0 |",
      gpu_index=int, gpu_name=str),
    P("footer", r"^(?P<key>val_bpb|artifact_bytes|line_count|valid):\s{2,}(?P<value>\S+)$",
      "artifact_bytes:   15555017", key=str, value=str),
    P("logpath", r"^logs/\S+\.txt$", "logs/6f1c1e4b-5f0c-4a51-9d2f-7a1f3c1c2b4e.txt"),
]

# What some launchers put before each line of the trainer: torchrun's rank-0 tag, a wall-clock time or date.
# Other ranks' lines ("[default3]:") are left unread: the trainer's own output comes from rank 0.
LINE_PREFIX = re.compile(r"^(?:\[(?:default|rank)0\]: ?|\[\d\d:\d\d:\d\d\] |\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:,\d+)?\] "
                         r"(?:INFO:? )?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)? +)")
HP_BLOCK_START = re.compile(r"^(?:Hyperparameters:|--- Hyperparameters ---)\s*$")
HP_BLOCK_LINE = re.compile(r"^ {2}(?P<key>\w+): ?(?P<value>.*)$")
# Generation A/B print hyperparameters as "key:value key:value" lines.
_KV_LINE = re.compile(r"^(?!step:)(?:[a-z][\w]*:[^\s:][^\s]*)(?: [a-z][\w]*:[^\s]+)*$")
_KV = re.compile(r"([a-z][\w]*):([^\s]+)")
CODE_START = re.compile(r"""^(?:"|'|import |from \S+ import |#)""")
# After leading comments, the first line that says "this is a script" (a docstring, an import, a definition).
CODE_LINE = re.compile(r"""^(?:"|'|import |from \S+ import |def |class |@\w)""")
# Some scripts print their hyperparameters as one line of "key=value" pairs.
_EQ_LINE = re.compile(r"^[a-z]\w*=\S+(?: [a-z]\w*=\S+){4,}$")
_EQ = re.compile(r"([a-z]\w*)=(\S+)")


def coerce(value: str) -> Any:
    v = value.strip()
    if re.fullmatch(r"[-+]?\d+", v):
        return int(v)
    if re.fullmatch(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+", v):
        return float(v)
    if v in ("True", "False"):
        return v == "True"
    return v


def kv_pairs(line: str) -> list[tuple[str, str]]:
    """The ``key:value`` or ``key=value`` pairs of a hyperparameter line; none for any other line."""
    if _KV_LINE.match(line):
        return _KV.findall(line)
    if _EQ_LINE.match(line):
        return _EQ.findall(line)
    return []


def row_fields(pat: Pattern, m: re.Match[str]) -> dict[str, Any] | None:
    """The fields of one table row's match, or None where the row's kind rejects it (a step line as a metric)."""
    fields: dict[str, Any] = dict(pat.const)
    for name, conv in pat.fields.items():
        g = m.groupdict().get(name)
        if g is not None:
            try:
                fields[name] = conv(g)
            except ValueError:
                fields[name] = g
    if pat.fields.get("train_time_s") is _minutes and m.group("train_time_s"):
        # minutes printed with few decimals: half a printing step, in seconds
        dec = m.group("train_time_s").partition(".")[2]
        fields["train_time_res_s"] = 30.0 * 10 ** -len(dec)
    if pat.kind == "metric":
        if not _metric_ok(fields):
            return None
        _metric_fields(fields)
    if pat.kind == "size" and "total" in fields:  # "artifact_bytes:N code_bytes:N total:N": the total counts
        fields["model"], fields["bytes"], fields["what"] = fields["bytes"], fields.pop("total"), "total"
    return fields


_EVAL_TIME = re.compile(r"eval_time:(?P<ms>\d+(?:\.\d+)?)ms|elapsed=(?P<s>[\d.]+)s|(?:^|\s)t:(?P<tms>\d+(?:\.\d+)?)ms")
_NOT_METRIC_NAME = re.compile(r"^(?:step|\d)")
DIAGNOSTIC_NAME = re.compile(r"(?i)diagnostic|pre-quantization|post_ema|post-ema|pre_quant")


def _metric_ok(fields: dict[str, Any]) -> bool:
    return not _NOT_METRIC_NAME.match(fields.get("name", ""))


def _metric_fields(fields: dict[str, Any]) -> None:
    variant = fields.pop("variant", None)
    if variant:  # "Quantized BPB (XSA-all)" -> quantized_xsa_all
        fields["name"] = f"{fields['name']} {variant}"
    if variant or ("val_loss" not in fields and re.search(r"[A-Z ]", fields["name"])):  # "Pure AR BPB: x"
        fields["name"] = re.sub(r"\W+", "_", fields["name"].lower()).strip("_")
    rest = fields.pop("rest", "") or ""
    m = _EVAL_TIME.search(rest)
    if m:
        ms = m.group("ms") or m.group("tms")
        fields["eval_time_s"] = float(ms) / 1000.0 if ms else float(m.group("s"))
    ms = re.search(r"stride[:=](\d+)", rest)
    if ms and "stride" not in fields:
        fields["stride"] = int(ms.group(1))
    name = fields["name"]
    fields["exact"] = name.endswith("_exact")
    fields["base"] = name[: -len("_exact")] if fields["exact"] else name
    fields["diagnostic"] = bool(DIAGNOSTIC_NAME.search(name))
