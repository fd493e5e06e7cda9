"""pgolf-harness: reproduce, verify and rank Parameter Golf submissions.

The package is split like pip's ``_internal``: ``harness.core`` is a pure,
torch-free library (log events, timeline, policies, statistics, records,
dataset registry, shard I/O); the rest of ``harness`` does the I/O (downloads,
sandboxed runs, measurement, record writing); ``verifier`` holds compliance
rules and imports only ``harness.core``.
"""

__version__ = "0.1.0"
