"""The challenge's fixed numbers, written once (PGOLF_FACTS.md; the challenge README).

Budgets that a policy may change (train and eval caps, grace) live in the
timing policies, not here; these are the rules every policy shares.
"""

from __future__ import annotations

ARTIFACT_CAP_BYTES = 16_000_000  # decimal bytes: counted code + compressed model
TRAIN_BUDGET_S = 600  # the official training budget (seconds on the official node)
EVAL_BUDGET_S = 600  # the official evaluation budget
OFFICIAL_GPU_COUNT = 8
OFFICIAL_GPU = "H100"  # SXM
DEFAULT_MARGIN_NATS = 0.005  # README record bar: beat the state of the art by 0.005 nats per token
