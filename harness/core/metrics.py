"""What a log says about its run: the headline metric and a summary of run facts.

The headline is picked by :func:`pick_headline` with one documented
precedence, never "the last metric line": int6-era scripts print alias lines
(``final_int8_zlib_roundtrip_exact`` repeating the sliding-window metric, at
times after the real TTT metric), diagnostics print val_loss/val_bpb too, and
some logs end with an external harness footer.

Precedence (first rule that separates the candidates wins):

1. Candidates are metric lines that are not diagnostics (``diagnostic``,
   ``pre-quantization``, ``post_ema`` ...) and not progress lines.
2. Family: test-time training (a name containing ``ttt``) > sliding-window
   (``sliding``) > everything else (roundtrip / ``quantized``). Each family is
   a later, more expensive eval of the same artifact; the alias line belongs to
   the last family, so it never beats the metric it repeats.
3. Within the family, the ``_exact`` twin (more decimals) of the last line's
   base name; the eval time comes from the rounded twin when only it has one.
4. A claimed val_bpb, when given, is checked against the pick; if the pick
   disagrees beyond printing precision but another candidate agrees, that one
   is chosen and the reason says so (a record whose claim is its sliding
   metric although it also ran a worse TTT eval).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from harness.core.events import Event

CLAIM_TOLERANCE = 5e-5  # claims print 4-8 decimals; within this they agree


@dataclass
class Headline:
    name: str
    val_loss: float | None
    val_bpb: float | None
    eval_time_s: float | None
    line_no: int
    reason: str
    agrees_with_claim: bool | None = None
    t: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Plain records of a log's facts (fields alike in shape to other dataclasses by nature, not repeated logic).
@dataclass
class Hardware:
    gpu_name: str | None = None
    gpu_count: int | None = None
    driver: str | None = None
    cuda: str | None = None


@dataclass
class LogSummary:
    seed: int | None = None
    world_size: int | None = None
    train_shards: int | None = None
    dataset: str | None = None              # the dataset the loader named (directory or val shard pattern)
    val_tokens: int | None = None
    target_tokens: int | None = None
    steps: int | None = None
    train_time_s: float | None = None       # the script's own train timer at the stop
    eval_time_s: float | None = None        # the headline's eval_time
    total_eval_time_s: float | None = None  # total_eval_time line (late scripts)
    artifact_bytes: int | None = None       # the scored "Total submission size <suffix>"
    model_bytes: int | None = None          # "Serialized model <suffix>" (compressed)
    model_bytes_raw: int | None = None      # "Serialized model:" (the .pt)
    code_bytes: int | None = None           # counted code as logged (compressed when both are printed)
    code_bytes_raw: int | None = None
    code_bytes_compressed: int | None = None
    tok_per_s: float | None = None          # last logged tok/s
    gptq_reserve_s: float | None = None
    hardware: Hardware = field(default_factory=Hardware)
    torch_version: str | None = None
    python_version: str | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    embedded_source: str | None = None
    caseops_enabled: bool | None = None
    headline: Headline | None = None
    footer: dict[str, str] = field(default_factory=dict)

    def to_dict(self, with_source: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_source:
            d.pop("embedded_source", None)
        return d


def _family(name: str) -> int:
    n = name.lower()
    if "ttt" in n:
        return 2
    if "sliding" in n:
        return 1
    return 0


_FAMILY_NAMES = {2: "test-time-training", 1: "sliding-window", 0: "roundtrip"}


def headline_candidates(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind == "metric" and not e.fields.get("diagnostic")
            and e.fields.get("val_bpb") is not None]


def _finish(ev: Event, events: list[Event], reason: str) -> Headline:
    f = ev.fields
    eval_time = f.get("eval_time_s")
    if eval_time is None:  # the rounded twin carries eval_time
        for other in reversed(events):
            if other.kind == "metric" and other.fields.get("base") == f.get("base") \
                    and other.fields.get("eval_time_s") is not None and other.line_no <= ev.line_no:
                eval_time = other.fields["eval_time_s"]
                break
    return Headline(name=f["name"], val_loss=f.get("val_loss"), val_bpb=f.get("val_bpb"), eval_time_s=eval_time,
                    line_no=ev.line_no, reason=reason, t=ev.t)


def pick_headline(events: list[Event], claimed_bpb: float | None = None) -> Headline | None:
    """The scored metric of the run (see the module docstring for the precedence)."""
    cands = headline_candidates(events)
    if not cands:
        return None
    best_family = max(_family(e.fields["name"]) for e in cands)
    fam = [e for e in cands if _family(e.fields["name"]) == best_family]
    last_base = fam[-1].fields["base"]
    twins = [e for e in fam if e.fields["base"] == last_base]
    exact = [e for e in twins if e.fields.get("exact")]
    chosen = exact[-1] if exact else twins[-1]
    skipped = len(cands) - len(fam)
    reason = (f"last {_FAMILY_NAMES[best_family]} metric" + (" (_exact twin)" if exact else "")
              + (f"; {skipped} lower-precedence metric line(s) not chosen" if skipped else ""))
    head = _finish(chosen, events, reason)
    if claimed_bpb is None:
        return head
    if head.val_bpb is not None and abs(head.val_bpb - claimed_bpb) <= CLAIM_TOLERANCE:
        head.agrees_with_claim = True
        return head
    agreeing = [e for e in cands if abs(e.fields["val_bpb"] - claimed_bpb) <= CLAIM_TOLERANCE]
    if agreeing:
        ex = [e for e in agreeing if e.fields.get("exact")]
        alt = ex[-1] if ex else agreeing[-1]
        out = _finish(alt, events, f"the claimed val_bpb {claimed_bpb} matches this line, not the precedence pick "
                                   f"{head.name} {head.val_bpb} (line {head.line_no})")
        out.agrees_with_claim = True
        return out
    head.agrees_with_claim = False
    return head


def claimed_for(claimed_bpb: float | Mapping[str, float] | None, seed: int | None) -> float | None:
    """One claimed val_bpb: the number itself, or the entry of ``seed`` in a per-seed mapping."""
    if claimed_bpb is None or isinstance(claimed_bpb, (int, float)):
        return claimed_bpb
    return claimed_bpb.get(str(seed)) if seed is not None else None


# A size line's ``what`` -> the LogSummary field it fills (``total_raw`` is judged after the loop).
_SIZE_FIELDS = {"total": "artifact_bytes", "model": "model_bytes", "model_raw": "model_bytes_raw",
                "code": "code_bytes", "code_raw": "code_bytes_raw", "code_compressed": "code_bytes_compressed"}


def summarize(events: list[Event], claimed_bpb: float | Mapping[str, float] | None = None) -> LogSummary:
    """Run facts of a log; later lines win where a fact repeats (the final stop, the final sizes).

    ``claimed_bpb`` (a number, or per-seed claims keyed by seed) is passed to the
    headline picker for this log's seed.
    """
    s = LogSummary()
    gpus: dict[int, str] = {}
    last_step = last_val = None
    listed_artifact = None  # a bare "artifact_bytes" key: the total in some scripts, the model in others
    for ev in events:
        f = ev.fields
        k = ev.kind
        if k == "hyperparam":
            s.hyperparams[f["key"]] = f["value"]
        elif k == "seed":
            s.seed = f["seed"]
        elif k == "world":
            s.world_size = f["world_size"]
        elif k == "train_shards":
            s.train_shards = f["train_shards"]
            s.dataset = f.get("dataset") or s.dataset
        elif k == "val_tokens":
            s.val_tokens = f["val_tokens"]
            s.dataset = s.dataset or f.get("pattern")
        elif k == "target_tokens":
            s.target_tokens = f["target_tokens"]
        elif k == "step":
            last_step = ev
            if f.get("tok_per_s"):
                s.tok_per_s = f["tok_per_s"]
        elif k == "val":
            last_val = ev
        elif k == "stop":
            s.train_time_s = f.get("train_time_s")
            if f.get("step") is not None:
                s.steps = f["step"]
        elif k == "gptq_reserve":
            s.gptq_reserve_s = f.get("reserve_s")
        elif k == "size":
            what = f.get("what")
            if what == "artifact":
                listed_artifact = f["bytes"]
            elif what in _SIZE_FIELDS:
                setattr(s, _SIZE_FIELDS[what], f["bytes"])
        elif k == "eval_total":
            s.total_eval_time_s = f["seconds"]
        elif k == "caseops":
            s.caseops_enabled = f["enabled"]
        elif k == "env":
            if "torch_version" in f:
                s.torch_version = f["torch_version"]
            if "python_version" in f:
                s.python_version = f["python_version"]
            if "driver" in f:
                s.hardware.driver, s.hardware.cuda = f["driver"], f["cuda"]
            if "gpu_name" in f:
                gpus[f["gpu_index"]] = f["gpu_name"]
        elif k == "footer":
            s.footer[f["key"]] = f["value"]
        elif k == "source_begin" and f.get("source"):
            s.embedded_source = f["source"]
    if s.code_bytes is None:
        s.code_bytes = s.code_bytes_compressed if s.code_bytes_compressed is not None else s.code_bytes_raw
    elif s.code_bytes_compressed is not None:
        s.code_bytes = s.code_bytes_compressed
    if s.artifact_bytes is None and str(s.footer.get("artifact_bytes", "")).isdigit():
        s.artifact_bytes = int(s.footer["artifact_bytes"])  # an external harness's footer names the artifact
    if s.artifact_bytes is None and listed_artifact is not None:
        s.artifact_bytes = listed_artifact
    if s.artifact_bytes is None:
        # Only an un-suffixed total: that is the artifact when no compressed model was printed.
        raw_total = [e for e in events if e.kind == "size" and e.fields.get("what") == "total_raw"]
        if raw_total and s.model_bytes is None:
            s.artifact_bytes = raw_total[-1].fields["bytes"]
        elif raw_total and s.model_bytes_raw is not None and raw_total[-1].fields["bytes"] < s.model_bytes_raw:
            # an un-suffixed total smaller than the raw model counts the compressed one (#1095's logs)
            s.artifact_bytes = raw_total[-1].fields["bytes"]
        elif s.model_bytes is not None and s.code_bytes is not None:
            s.artifact_bytes = s.model_bytes + s.code_bytes  # compressed model + code, no total printed
    if s.steps is None:
        cands = [e for e in (last_step, last_val) if e is not None]
        if cands:
            s.steps = max(e.fields["step"] for e in cands)
    if s.train_time_s is None:
        timed = [e for e in (last_step, last_val) if e is not None and e.fields.get("train_time_s") is not None]
        if timed:
            s.train_time_s = max(e.fields["train_time_s"] for e in timed)
    hp = s.hyperparams
    if s.seed is None and isinstance(hp.get("seed"), int):
        s.seed = hp["seed"]
    if s.world_size is None and isinstance(hp.get("world_size"), int):
        s.world_size = hp["world_size"]
    if s.caseops_enabled is None and isinstance(hp.get("caseops_enabled"), bool):
        s.caseops_enabled = hp["caseops_enabled"]
    if gpus:
        names = sorted(set(gpus.values()))
        s.hardware.gpu_name = names[0] if len(names) == 1 else " + ".join(names)
        s.hardware.gpu_count = len(gpus)
    s.headline = pick_headline(events, claimed_bpb=claimed_for(claimed_bpb, s.seed))
    if s.headline is not None:
        s.eval_time_s = s.headline.eval_time_s
    return s
