"""The node one side of a comparison ran on, normalised enough to compare (count x GPU family).

Steps done in 600 s depend on the node: `harness compare` shows both nodes, warns when
they differ and flags a record-track claim that did not run on 8x H100 SXM.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from harness.core.constants import OFFICIAL_GPU, OFFICIAL_GPU_COUNT

OFFICIAL_NODE = (OFFICIAL_GPU_COUNT, OFFICIAL_GPU)

_FAMILY = re.compile(r"(?<![A-Za-z0-9])(GH200|GB200|H100|H200|H800|H20|B200|B100|A100|A10G|A10|L40S|L40|L4|V100|T4|"
                     r"RTX\s?PRO\s?6000|RTX\s?\d{4}(?:\s?Ti)?|\d{4}(?:\s?Ti)?)(?![A-Za-z0-9])", re.I)
_COUNT = re.compile(r"(?<![A-Za-z0-9.])(\d+)\s*[x×]\s*(?=[A-Za-z])", re.I)


@dataclass
class Node:
    """The machine one side ran on, normalised enough to compare (count x family)."""

    name: str | None             # as reported: "NVIDIA H100 80GB HBM3", "8xH100 80GB SXM", "cpu"
    count: int | None
    source: str                  # where it was read: log nvidia-smi block, qualification, record field
    family: str | None = None    # H100, H200, A100, RTX 5090, cpu ...
    form_factor: str | None = None  # SXM | PCIe | None
    driver: str | None = None
    cuda: str | None = None

    @classmethod
    def from_name(cls, name: str | None, count: int | None, source: str) -> "Node | None":
        if not name and not count:
            return None
        text = str(name or "")
        m = _COUNT.search(text)
        if m and count is None:
            count = int(m.group(1))
        fam = None
        if re.search(r"\bcpu\b|gloo", text, re.I):
            fam = "cpu"
        else:
            fm = _FAMILY.search(_COUNT.sub("", text).replace("-", " "))
            if fm:
                fam = re.sub(r"\s+", " ", fm.group(1).upper()).strip()
                if fam.isdigit():
                    fam = f"RTX {fam}"
                fam = re.sub(r"^RTX\s*", "RTX ", fam)
        form = "SXM" if re.search(r"SXM|HBM3", text, re.I) else ("PCIe" if re.search(r"pcie", text, re.I) else None)
        return cls(name=text or None, count=count, source=source, family=fam or (text or None), form_factor=form)

    @property
    def key(self) -> str:
        """What two sides must share to be the same kind of node: the count and the GPU family."""
        fam = self.family or "unknown GPU"
        return f"{self.count}x {fam}" if self.count else fam

    @property
    def label(self) -> str:
        base = self.key + (f" {self.form_factor}" if self.form_factor and self.family != "cpu" else "")
        if self.name and self.family and self.name != self.family and self.family != "cpu":
            base += f" ({self.name})"
        return base

    def is_official(self) -> bool:
        return self.count == OFFICIAL_NODE[0] and self.family == OFFICIAL_NODE[1] and self.form_factor != "PCIe"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key, "label": self.label}

