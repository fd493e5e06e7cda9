"""`harness compare RUN CLAIM`: does a reproduction match what a submission claims?

Both sides are loaded into per-seed :class:`harness.core.compare.SeedFigures`
(BPB, loss, artifact bytes, steps, tok/s, the timing verdict) plus the node
they ran on, then :func:`harness.core.compare.compare` judges them with its
stated tolerances (per seed ``|delta| <= 3 s``, mean ``|delta| <= t(0.995,
n_c-1) s sqrt(1/n_c + 1/n_r)``, ``s`` the claimed seeds' sample std floored
at 0.0005; every reproduced seed must be <= 16,000,000 bytes; steps and tok/s
below 97 % of the claim warn).

What each side can be:

* RUN: a ``runs/<id>/`` folder of ours (its v1 ``submission.json`` holds the
  per-seed results, the timing verdicts measured on the harness clock and the
  node's qualification; its seed logs give tok/s), or any folder of logs (or
  one log), each log parsed with the one parser in ``harness.core``.
* CLAIM: a ``submission.json`` (upstream legacy or our v1) or a folder with
  one, plus the per-seed logs beside it (they add steps, tok/s, the node from
  their nvidia-smi block and a timing verdict); a ``submissions/NAME`` entry
  whose ``harness.toml`` has a ``[claim]`` section; or a PR reference
  ``github:openai/parameter-golf#N`` resolved with :mod:`harness.resolve`.

The package, by concern: :mod:`.node` (the machine a side ran on), :mod:`.sides`
(runs and logs), :mod:`.claims` (submission.json, manifests, PRs), :mod:`.judge`
(the comparison and its node/mode/track rules), :mod:`.report` (the model and its
JSON), :mod:`.render` (Markdown and terminal). Torch-free: it reads files only.
"""
