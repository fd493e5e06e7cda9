"""The one log classifier: trainer log lines -> typed events.

Every reader of a training log goes through here: the supervisor feeds lines
live (with the harness clock), and verify, record validation, compare and the
leaderboard feed files. Lines may carry a stamp (the harness's ``"<t> "``
prefix, or the Unix-epoch prefix some record logs have), come from any of the
three log generations (``step:N/M ... train_time:Nms``, ``N/M ... train_time:
N.Nm``, hyperparameter dumps), and may sit inside an embedded source dump,
which must never be read as events (the code contains the very strings it
prints).

The regex table :data:`PATTERNS` is data: each row names the event kind, the
regex, how its groups become fields, and a real example line (a test checks
every row matches its example). Rows are tried in order and a line yields the
events of every row that matches, unless a row says ``final`` (stop there).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

# A stamp at the start of a line: the harness's relative seconds ("12.345 ") or a
# Unix epoch ("1776142361.425 "). Up to two (a harness-stamped run of a trainer
# that stamps its own lines).
_STAMP = re.compile(r"^(\d{9,11}\.\d+|\d+\.\d{3}) ")
# The harness writes the trainer's stderr into its log behind this mark. Such lines are kept
# (kind "stderr") but never classified: metrics, timers and sizes count only from stdout, so a
# trainer cannot slip a forged figure in through a channel the harness does not score.
STDERR_MARK = "[stderr] "
_RULE_LINE = re.compile(r"^={20,}\s*$")


@dataclass
class Event:
    """One fact a log line states."""

    kind: str
    line_no: int          # 1-based line number in the log
    text: str             # the line without stamp(s)
    t: float | None = None  # seconds: the harness clock when fed live / stamped, else the epoch stamp
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    P("size", r"^artifact_bytes: ?(?P<bytes>\d+)(?: code_bytes: ?(?P<code>\d+) total: ?(?P<total>\d+))?$",
      "artifact_bytes:15812345 code_bytes:60123 total:15872468", bytes=int, code=int, total=int,
      const_what="total"),
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
    P("metric", rf"^(?P<name>(?:[a-z0-9]+_)*val_bpb): (?P<val_bpb>{_F})\s*$", "final_export_val_bpb: 1.1532",
      name=str, val_bpb=_num),
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

_HP_BLOCK_START = re.compile(r"^(?:Hyperparameters:|--- Hyperparameters ---)\s*$")
_HP_BLOCK_LINE = re.compile(r"^ {2}(?P<key>\w+): ?(?P<value>.*)$")
# Generation A/B print hyperparameters as "key:value key:value" lines.
_KV_LINE = re.compile(r"^(?!step:)(?:[a-z][\w]*:[^\s:][^\s]*)(?: [a-z][\w]*:[^\s]+)*$")
_KV = re.compile(r"([a-z][\w]*):([^\s]+)")
_CODE_START = re.compile(r"""^(?:"|'|import |from \S+ import |#)""")
# Some scripts print their hyperparameters as one line of "key=value" pairs.
_EQ_LINE = re.compile(r"^[a-z]\w*=\S+(?: [a-z]\w*=\S+){4,}$")
_EQ = re.compile(r"([a-z]\w*)=(\S+)")


def _coerce(value: str) -> Any:
    v = value.strip()
    if re.fullmatch(r"[-+]?\d+", v):
        return int(v)
    if re.fullmatch(r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+", v):
        return float(v)
    if v in ("True", "False"):
        return v == "True"
    return v


def strip_stamps(line: str) -> tuple[float | None, str]:
    """(first stamp or None, the text without stamps and trailing newline)."""
    text = line.rstrip("\r\n")
    first: float | None = None
    for _ in range(2):
        m = _STAMP.match(text)
        if not m:
            break
        if first is None:
            first = float(m.group(1))
        text = text[m.end():]
    return first, text


class EventStream:
    """Incremental classifier: feed lines (live or from a file), collect events.

    State it keeps across lines: the hyperparameter block (``Hyperparameters:``
    then indented ``  key: value`` lines) and the embedded source dump
    (``Source code:`` between rules of ``=``, or a root-script log that starts
    with the code), whose lines are skipped but kept as one ``source`` text.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.line_no = 0
        self._in_hp = False
        self._src_state: str | None = None  # None | "await_rule" | "in"
        self._src_lines: list[str] = []
        self._src_start = 0
        self.embedded_source: str | None = None

    def feed(self, line: str, t: float | None = None) -> list[Event]:
        self.line_no += 1
        stamp, text = strip_stamps(line)
        if t is None:
            t = stamp
        if text.startswith(STDERR_MARK):
            out = [Event("stderr", self.line_no, text[len(STDERR_MARK):], t, {})]
            self.events.extend(out)
            return out
        out = self._classify(text, t)
        self.events.extend(out)
        return out

    # -- state machine around the line table
    def _classify(self, text: str, t: float | None) -> list[Event]:
        n = self.line_no
        if self._src_state == "await_rule":
            self._src_state = "in"
            if _RULE_LINE.match(text):
                return []
        if self._src_state == "in":
            if _RULE_LINE.match(text):
                self._close_source()
                return []
            self._src_lines.append(text)
            return []
        if text.strip() == "Source code:":
            self._in_hp = False
            self._src_state, self._src_start = "await_rule", n
            return [Event("source_begin", n, text, t, {})]
        if n == 1 and _CODE_START.match(text):
            # root-script logfile: the code dump comes first, then a rule of "=".
            self._src_state, self._src_start = "in", n
            self._src_lines.append(text)
            return [Event("source_begin", n, "", t, {"implicit": True})]
        if _HP_BLOCK_START.match(text):
            self._in_hp = True
            return [Event("hyperparam_block", n, text, t, {})]
        if self._in_hp:
            m = _HP_BLOCK_LINE.match(text)
            if m:
                return self._hyperparam(n, text, t, m.group("key"), m.group("value"))
            self._in_hp = False
        return self._table(n, text, t)

    def _close_source(self) -> None:
        self._src_state = None
        self.embedded_source = "\n".join(self._src_lines) + "\n"
        self._src_lines = []

    def _hyperparam(self, n: int, text: str, t: float | None, key: str, value: str) -> list[Event]:
        val = _coerce(value)
        out = [Event("hyperparam", n, text, t, {"key": key, "value": val})]
        # Hyperparameters that are also run facts become their own events.
        if key == "seed" and isinstance(val, int):
            out.append(Event("seed", n, text, t, {"seed": val}))
        elif key == "world_size" and isinstance(val, int):
            out.append(Event("world", n, text, t, {"world_size": val}))
        elif key == "caseops_enabled" and isinstance(val, bool):
            out.append(Event("caseops", n, text, t, {"enabled": val}))
        return out

    def _table(self, n: int, text: str, t: float | None) -> list[Event]:
        s = text.strip() if not text.startswith("|") else text
        out: list[Event] = []
        for pat in PATTERNS:
            m = pat.regex.search(s)
            if not m:
                continue
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
                    continue
                _metric_fields(fields)
            if pat.kind == "size" and "total" in fields:  # "artifact_bytes:N code_bytes:N total:N": the total counts
                fields["model"], fields["bytes"] = fields["bytes"], fields.pop("total")
            out.append(Event(pat.kind, n, text, t, fields))
            if pat.final:
                return out
        if not out and (_KV_LINE.match(s) or _EQ_LINE.match(s)):
            pairs = _KV.findall(s) if _KV_LINE.match(s) else _EQ.findall(s)
            for k, v in pairs:
                out.extend(self._hyperparam(n, text, t, k, v))
        return out

    def finish(self) -> None:
        """End of input: a source dump without its closing rule still counts."""
        if self._src_state == "in" and self._src_lines:
            self._close_source()


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


def parse_lines(lines: Iterable[str | tuple[float, str]]) -> list[Event]:
    """Events of an iterable of lines, or of (t, line) pairs (the harness clock)."""
    stream = EventStream()
    for item in lines:
        if isinstance(item, tuple):
            stream.feed(item[1], item[0])
        else:
            stream.feed(item)
    stream.finish()
    return _with_source(stream)


def parse_file(path: str | Path) -> list[Event]:
    """Events of a log file (any generation; stamped or not)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_lines(fh)


def _with_source(stream: EventStream) -> list[Event]:
    events = stream.events
    if stream.embedded_source is not None:
        for ev in events:
            if ev.kind == "source_begin":
                ev.fields["chars"] = len(stream.embedded_source)
                ev.fields["source"] = stream.embedded_source
                break
    return events


def events_json(events: list[Event], with_text: bool = False) -> list[dict[str, Any]]:
    """A plain, stable view of events (the golden files; `harness log events`)."""
    out = []
    for ev in events:
        f = {k: v for k, v in ev.fields.items() if k != "source"}
        d: dict[str, Any] = {"kind": ev.kind, "line": ev.line_no, "fields": f}
        if ev.t is not None:
            d["t"] = ev.t
        if with_text:
            d["text"] = ev.text
        out.append(d)
    return out
