"""The data layer: fetch canonical variants from the hub, verify and lock local datasets.

Library entry points (the CLI in ``harness/commands/data.py`` is a thin shell over them):

* :func:`harness.data.fetch.fetch_variant` - download a registry variant, verified;
* :func:`harness.data.verify.verify_dataset` - headers, sidecars, sha256, canonical figures;
* :func:`harness.data.verify.lock_dataset` - write the trust-on-first-use manifest;
* :mod:`harness.data.manifest` - the ``harness-manifest.json`` format and parallel hashing.

Submodules are imported lazily so ``import harness.data`` stays cheap.
"""

from __future__ import annotations

__all__ = ["fetch", "verify", "manifest"]
