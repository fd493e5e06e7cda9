"""Policies as data: `harness/policies/*.toml` loaded, identified by sha256, evaluated.

The shipped policies are package data read through ``importlib.resources``, so
a wheel installed anywhere finds them; a path to a ``.toml`` file loads that file.
Every kind of policy (timing, acceptance, env) is read by :func:`load_policy`.

A timing policy's ``[timing.train]`` / ``[timing.eval]`` sections say which
timeline segment roles add up to each budget (``counts``), which are taken
away (``subtracts``), which are excluded only up to a cap (``capped``: a
marker is the submitter's word, so an excluded segment can gain at most its
cap), or which anchor span measures it (``span``, used when the log is
stamped; otherwise the role sum is a lower bound, ``lower_bound = true``).
Verdicts: ``PASS`` (<= cap), ``PASS_GRACE`` (<= cap + grace, with a warning),
``FAIL``, ``UNDETERMINED`` (a counted segment has no measurable duration, or
a lower bound stays under the cap), and ``REPORTED`` for figures a policy
shows without judging (artifact production under organizer-tda-v1).

The same file gives the supervisor's hard caps (``[live]``); the smoke policy
takes its budgets as parameters (``load_policy("smoke", train_seconds=S,
eval_seconds=S)``) and its verdicts are unofficial.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.core.schema import loads_toml
from harness.core.verdict import FAIL, PASS, PASS_GRACE, REPORTED, UNDETERMINED, Verdict


KINDS = ("timing", "acceptance", "env")
# The segment each budget is about: without it, the other counted parts are only a lower bound.
_MAIN_ROLES = ("loop", "scored_eval")


class PolicyError(ValueError):
    """A policy file that cannot be used (unknown id, malformed section, missing parameter)."""


def _resolve_param(value: Any, params: dict[str, float]) -> float | None:
    """A number, or {of = "train_seconds", factor = 1.5, add = 30} resolved against the parameters."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict) and "of" in value:
        name = value["of"]
        if name not in params:
            raise PolicyError(f"this policy needs the parameter {name!r} (e.g. load_policy(..., {name}=60))")
        return float(params[name]) * float(value.get("factor", 1.0)) + float(value.get("add", 0.0))
    raise PolicyError(f"cannot read a duration from {value!r}")


@dataclass
class Policy:
    id: str
    version: str
    effective_from: str | None
    sha256: str
    path: str
    kind: str
    description: str
    sections: dict[str, Any]
    params: dict[str, float] = field(default_factory=dict)

    @property
    def official(self) -> bool:
        return bool(self.sections.get("official", True)) and self.kind == "timing" \
            and not self.sections.get("timing", {}).get("unofficial", False)

    def ref(self) -> dict[str, Any]:
        """What a record embeds to say which policy judged it."""
        return {"id": self.id, "version": self.version, "effective_from": self.effective_from, "sha256": self.sha256,
                "params": dict(self.params)}

    # ---------------------------------------------------------------- timing
    def _timing(self) -> dict[str, Any]:
        t = self.sections.get("timing")
        if not isinstance(t, dict):
            raise PolicyError(f"policy {self.id!r} has no [timing] section (it is a {self.kind} policy)")
        return t

    def cap(self, verdict: str) -> float | None:
        sec = self._timing().get(verdict, {})
        return _resolve_param(sec.get("cap_s"), self.params)

    def counted_roles(self) -> set[str]:
        t = self.sections.get("timing", {}) if isinstance(self.sections.get("timing"), dict) else {}
        roles: set[str] = set()
        for name in ("train", "eval"):
            roles |= set(t.get(name, {}).get("counts", []))
        return roles

    def evaluate(self, timeline: Any) -> list[Verdict]:
        t = self._timing()
        grace = float(t.get("grace_s", 0.0))
        out = []
        for name in ("train", "eval"):
            if name in t:
                out.append(self._verdict(name, t[name], timeline, grace))
        ap = t.get("artifact_production")
        if isinstance(ap, dict):
            out.append(self._reported("artifact_production", ap, timeline))
        for v in out:
            v.policy, v.official = self.id, self.official
        return out

    def _verdict(self, name: str, sec: dict[str, Any], tl: Any, grace: float) -> Verdict:
        cap = _resolve_param(sec.get("cap_s"), self.params)
        span = sec.get("span")
        warnings: list[str] = []
        parts: list[dict[str, Any]] = []
        if span and tl.anchor_t(span[0]) is not None and tl.anchor_t(span[1]) is not None:
            value = tl.anchor_t(span[1]) - tl.anchor_t(span[0])
            parts.append({"span": list(span), "seconds": round(value, 3), "source": "harness"})
            return self._judge(name, value, cap, grace, False, False, parts, warnings,
                               f"{span[0]} -> {span[1]} on the clock")
        value, unknown, uncertainty, unknown_end = 0.0, [], 0.0, []
        for role in sec.get("counts", []):
            for s in tl.by_role(role):
                if s.seconds is None:
                    unknown.append(s.name)
                    continue
                value += s.seconds
                uncertainty += s.uncertainty_s
                if s.lower_bound:
                    unknown_end.append(s.name)
                parts.append({"segment": s.name, "role": role, "seconds": round(s.seconds, 3), "source": s.source})
        for role in sec.get("subtracts", []):
            for s in tl.by_role(role):
                if s.seconds:
                    value -= s.seconds
                    uncertainty += s.uncertainty_s
                    parts.append({"segment": s.name, "role": role, "seconds": -round(s.seconds, 3),
                                  "source": s.source})
        for role, role_cap in (sec.get("capped") or {}).items():
            for s in tl.by_role(role):
                if s.seconds is not None and s.seconds > role_cap:
                    extra = s.seconds - role_cap
                    value += extra
                    parts.append({"segment": s.name, "role": role, "seconds": round(extra, 3), "source": s.source})
                    warnings.append(f"{s.name} took {s.seconds:.1f} s; only {role_cap:g} s may be excluded on the "
                                    f"script's marker, so {extra:.1f} s count")
        if not parts and not unknown:
            return Verdict.timing(name, UNDETERMINED, None, cap, "no segment of this budget was found in the log")
        lower = bool(sec.get("lower_bound")) and bool(span)
        # A budget whose main segment is missing (a run that ended before its scored eval, but after
        # a decompression that counts toward E) is only partly seen: what was seen is a lower bound.
        missing = [r for r in _MAIN_ROLES if r in sec.get("counts", []) and not tl.by_role(r)]
        if missing:
            warnings.append(f"no {', '.join(missing)} segment in the log (the run ended before it): "
                            "the value is a lower bound")
            lower = True
        if unknown:
            warnings.append("no measurable duration for: " + ", ".join(unknown))
        if unknown_end:
            warnings.append("end not seen (lower bound) for: " + ", ".join(unknown_end))
            lower = True
        detail = _sum_words(parts)
        if uncertainty:
            detail += f" (+/- {uncertainty:.1f} s printing precision)"
        return self._judge(name, value, cap, grace, lower, bool(unknown), parts, warnings, detail, uncertainty)

    def _judge(self, name: str, value: float, cap: float | None, grace: float, lower: bool, unknown: bool,
               parts: list[dict[str, Any]], warnings: list[str], detail: str, uncertainty: float = 0.0) -> Verdict:
        if cap is None:
            return Verdict.timing(name, REPORTED, value, None, detail, warnings, lower, parts)
        if uncertainty and value - uncertainty <= cap + grace < value + uncertainty:
            return Verdict.timing(name, UNDETERMINED, value, cap,
                           f"{value:.1f} s +/- {uncertainty:.1f} s (the precision of the printed train_time) "
                           f"straddles the {cap:g} s cap (+{grace:g} s grace): {detail}", warnings, lower, parts)
        if value > cap + grace:
            status = FAIL
            detail = f"{value:.1f} s > {cap:g} s" + (" (at least)" if lower or unknown else "") + f": {detail}"
        elif lower or unknown:
            status = UNDETERMINED
            detail = f"at least {value:.1f} s (cap {cap:g} s): {detail}"
        elif value > cap:
            status = PASS_GRACE
            warnings = warnings + [f"{value:.3f} s is over the {cap:g} s cap by {value - cap:.3f} s, "
                                   f"within the {grace:g} s grace"]
        else:
            status = PASS
        return Verdict.timing(name, status, value, cap, detail, warnings, lower, parts)

    def _reported(self, name: str, sec: dict[str, Any], tl: Any) -> Verdict:
        segs = [s for role in sec.get("counts", []) for s in tl.by_role(role)]
        known = [s for s in segs if s.seconds is not None]
        if not known:
            return Verdict.timing(name, UNDETERMINED, None, None, "not printed and not measurable")
        value = sum(s.seconds for s in known)
        warn_s = sec.get("warn_above_s")
        warnings = []
        if warn_s is not None and value > float(warn_s):
            warnings.append(f"{name.replace('_', ' ')} took {value:.1f} s (above {float(warn_s):g} s)")
        parts = [{"segment": s.name, "role": s.role, "seconds": round(s.seconds, 3), "source": s.source} for s in known]
        return Verdict.timing(name, REPORTED, value, None, " + ".join(f"{s.name} {s.seconds:.1f}" for s in known),
                       warnings, False, parts)

    # ---------------------------------------------------------------- live caps
    def live_caps(self) -> dict[str, Any]:
        """Hard kill caps and silence limits for the supervisor (``harness.phases.LiveCaps.from_policy``)."""
        live = self.sections.get("live")
        if not isinstance(live, dict):
            raise PolicyError(f"policy {self.id!r} has no [live] section")
        out: dict[str, Any] = {}
        for k, v in live.items():
            if k == "silence" and isinstance(v, dict):
                out["silence"] = {p: _resolve_param(s, self.params) for p, s in v.items()}
            else:
                out[k] = _resolve_param(v, self.params)
        return out


def _sum_words(parts: list[dict[str, Any]]) -> str:
    """'training loop 630.0 + GPTQ Hessian calibration 12.1 - validation pauses 0.7': subtracted parts
    read as a subtraction, never as '+ validation pauses -0.7'."""
    out = ""
    for p in (p for p in parts if "segment" in p):
        sign = "-" if p["seconds"] < 0 else "+"
        term = f"{p['segment']} {abs(p['seconds']):.1f}"
        out = (f"{out} {sign} {term}" if out else (f"-{term}" if sign == "-" else term))
    return out


def shipped_policies() -> Any:
    """The folder of shipped policy files (an ``importlib.resources`` Traversable)."""
    return resources.files("harness").joinpath("policies")


def policy_source(id_or_path: str | Path) -> Any:
    """A path given by the caller (``*.toml`` or an existing file), else the shipped ``<id>.toml``."""
    p = Path(id_or_path)
    if p.suffix == ".toml" or p.is_file():
        return p
    return shipped_policies().joinpath(f"{id_or_path}.toml")


def load_policy(id_or_path: str | Path, *, kind: str | None = None, **params: float) -> Policy:
    """A policy by id (``harness/policies/<id>.toml``) or path; ``params`` fill its parameters (smoke budgets).

    ``kind`` ("timing", "acceptance" or "env") refuses a policy of another kind with a
    PolicyError that lists the ids of the wanted kind, instead of a failure deep inside
    whatever reads the wrong sections.
    """
    path = policy_source(id_or_path)
    if not path.is_file():
        known = ", ".join(list_policies(kind)) or "none"
        raise PolicyError(f"no {kind + ' ' if kind else ''}policy {str(id_or_path)!r} (looked for {path}; known: {known})")
    raw = path.read_bytes()
    try:
        data = loads_toml(raw.decode("utf-8"), f"policy file {path}", schema="policy")
    except (ValueError, UnicodeDecodeError) as exc:  # a parse error, or a key the policy schema does not know
        raise PolicyError(str(exc)) from None
    for key in ("id", "version"):
        if key not in data:
            raise PolicyError(f"policy file {path} lacks the top-level key {key!r}")
    declared = data.get("parameters", {})
    # only the parameters a policy declares are kept (and hashed into records' policy refs)
    params = {k: float(v) for k, v in params.items() if v is not None and k in declared}
    for name, spec in declared.items():
        if name not in params and isinstance(spec, dict) and "default" in spec:
            params[name] = float(spec["default"])
    eff = data.get("effective_from")
    pol = Policy(id=str(data["id"]), version=str(data["version"]), effective_from=str(eff) if eff is not None else None,
                 sha256=hashlib.sha256(raw).hexdigest(), path=str(path), kind=str(data.get("kind", "timing")),
                 description=str(data.get("description", "")), sections=data, params=params)
    if kind is not None and pol.kind != kind:
        known = ", ".join(list_policies(kind)) or "none"
        raise PolicyError(f"{pol.id!r} is {_a(pol.kind)} policy, not {_a(kind)} policy (the {kind} policies: {known})")
    if pol.kind == "timing":
        for name in ("train", "eval"):  # fail at load time, not in the middle of a run
            pol.cap(name)
    return pol


def _a(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


def list_policies(kind: str | None = None) -> list[str]:
    """Ids of the shipped policies (optionally of one kind)."""
    out = []
    for p in sorted(shipped_policies().iterdir(), key=lambda t: t.name):
        if not p.name.endswith(".toml"):
            continue
        stem = p.name[: -len(".toml")]
        if kind is None:
            out.append(stem)
            continue
        try:
            data = loads_toml(p.read_text(encoding="utf-8"), str(p))
        except (ValueError, UnicodeDecodeError):
            continue
        if data.get("kind", "timing") == kind:
            out.append(stem)
    return out
