"""Download a dataset variant from the Hugging Face hub, verified, into the organiser's layout.

Why not the organiser's ``cached_challenge_fineweb.py``: it pins no revision,
never checks a hash or header, keeps a truncated file forever and never
fetches CaseOps sidecars (PGOLF_FACTS 7.1). Here:

* the branch in the registry is resolved to a commit sha once and every file
  is fetched at that sha (one consistent snapshot), and the sha is recorded;
* files go through the HF cache (``HF_HOME``/``HF_HUB_CACHE``; the hub client
  retries a dropped transfer with an HTTP Range request from the byte it
  reached) and are hard-linked (or copied) into ``<dest>/datasets/<dir>/`` and
  ``<dest>/tokenizers/``;
* every file is hashed and its header read into ``harness-manifest.json``;
  where the hub publishes an LFS sha256 it must match;
* a file already present and matching the manifest is not fetched again; one
  that does not match is fetched again with ``force_download`` (the cache copy
  may be the same corrupted inode, since files are hard-linked).

HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are read when the fetch runs (the hub
client reads some of them only at import). The token is passed to the client
and never printed or stored.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.core import registry, shards
from harness.data import manifest as mf
from harness.data.progress import ProgressFactory, open_bar
from harness.errors import EnvironmentProblem, HarnessError, UsageError, VerificationFailed

class HubUnreachable(EnvironmentProblem):
    """The hub could not be reached at all (as opposed to a missing repo or file)."""


_SNAPSHOT = re.compile(r"[/\\]snapshots[/\\]([0-9a-f]{40})[/\\]")


@dataclass
class RemoteFile:
    remote_path: str  # path inside the hub repo
    local_path: Path
    kind: str  # train | val | val_bytes | tokenizer
    size: int | None = None  # from the hub's paths-info
    upstream_sha256: str | None = None  # the hub's LFS sha256, when published


@dataclass
class FetchResult:
    variant: str
    dataset_dir: Path
    revision_requested: str
    revision_resolved: str | None
    files: list[RemoteFile]
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False
    observed: dict = field(default_factory=dict)
    figure_checks: list[tuple[bool | None, str]] = field(default_factory=list)
    manifest_path: Path | None = None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def offline_from_env() -> bool:
    import huggingface_hub.constants as hc

    return hc.HF_HUB_OFFLINE or _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def _endpoint_for_display(endpoint: str | None) -> str:
    e = endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return re.sub(r"//[^/@]*@", "//", e)  # never show credentials embedded in a URL


def plan_files(variant: registry.Variant, train_shards: int | None, dest: str | os.PathLike) -> list[RemoteFile]:
    """The exact files a fetch needs: val shards (+ sidecars), the first N train shards, the tokenizer."""
    if not variant.fetchable:
        raise UsageError(f"variant {variant.name} cannot be fetched: {variant.fetch_note}")
    n = variant.default_train_shards if train_shards is None else train_shards
    if n < 0:
        raise UsageError("--train-shards must be >= 0")
    if n > variant.max_train_shards:
        raise UsageError(
            f"--train-shards {n} exceeds the maximum {variant.max_train_shards} for {variant.name}",
            hint=f"({variant.max_train_shards_note})" if variant.max_train_shards_note else None,
        )
    ddir = variant.local_dataset_dir(dest)
    rdir = variant.remote_dataset_dir()
    out: list[RemoteFile] = []
    kinds = [("val", variant.val_shards)]
    if variant.has_sidecars:
        kinds.append(("val_bytes", variant.val_shards))
    kinds.append(("train", n))
    for kind, count in kinds:
        for i in range(count):
            name = shards.shard_filename(kind, i)
            out.append(RemoteFile(f"{rdir}/{name}", ddir / name, kind))
    for remote in variant.remote_tokenizer_files():
        out.append(RemoteFile(remote, Path(dest) / "tokenizers" / remote.rsplit("/", 1)[-1], "tokenizer"))
    return out


def _hub_errors():
    from huggingface_hub import errors as he

    return he


def _resolve(variant: registry.Variant, files: list[RemoteFile], endpoint: str | None, token: str | None) -> str:
    """Resolve the registry revision to a commit sha and fill sizes / LFS hashes from paths-info."""
    from huggingface_hub import HfApi

    he = _hub_errors()
    api = HfApi(endpoint=endpoint, token=token)
    where = f"{variant.hf_repo_id}@{variant.hf_revision} on {_endpoint_for_display(endpoint)}"
    try:
        info = api.dataset_info(variant.hf_repo_id, revision=variant.hf_revision)
        sha = info.sha
        infos = api.get_paths_info(variant.hf_repo_id, [f.remote_path for f in files], revision=sha, repo_type="dataset")
    except he.RevisionNotFoundError:
        raise EnvironmentProblem(f"revision {variant.hf_revision!r} not found in {variant.hf_repo_id}") from None
    except (he.RepositoryNotFoundError, he.GatedRepoError):
        raise EnvironmentProblem(f"dataset repo {variant.hf_repo_id} not found or not accessible",
                                 hint="Check HF_ENDPOINT and HF_TOKEN.") from None
    except he.OfflineModeIsEnabled:
        raise
    except he.HfHubHTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        raise EnvironmentProblem(f"the hub answered HTTP {code} for {where}", hint="Try again later.") from None
    except Exception as exc:  # connection refused, DNS, TLS, 5xx: one sentence, no traceback
        raise HubUnreachable(f"cannot reach {where}: {type(exc).__name__}",
                                 hint="Check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use the HF cache.") from None
    if not sha:
        raise EnvironmentProblem(f"the hub did not resolve {where} to a commit")
    by_path = {i.path: i for i in infos}
    missing = [f.remote_path for f in files if f.remote_path not in by_path]
    if missing:
        raise EnvironmentProblem(
            f"{len(missing)} file(s) not in {variant.hf_repo_id}@{sha[:12]}: {', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else ""),
            hint="Fewer --train-shards, or check the registry's dataset_dir.",
        )
    for f in files:
        i = by_path[f.remote_path]
        f.size = getattr(i, "size", None)
        lfs = getattr(i, "lfs", None)
        f.upstream_sha256 = lfs.sha256 if lfs is not None else None
    return sha


def _link_into(cached: str, target: Path) -> None:
    """Hard-link the cache blob into place (no second copy on disk), else copy; atomic."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = os.path.realpath(cached)
    tmp = target.with_name(target.name + ".partial")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, target)


class _RichTqdm:
    """Adapter the hub client can use as ``tqdm_class``: feeds one shared rich bytes bar."""

    advance: Callable[[int], None] = staticmethod(lambda n: None)
    add_total: Callable[[int], None] = staticmethod(lambda n: None)

    def __init__(self, *args, **kwargs):
        total = kwargs.get("total")
        initial = kwargs.get("initial") or 0
        if total:
            type(self).add_total(int(total) - int(initial))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        if n:
            type(self).advance(int(n))

    def update_transfer(self, n=1):
        pass

    def close(self):
        pass

    def set_postfix_str(self, *a, **k):
        pass

    def set_transfer_postfix_str(self, *a, **k):
        pass

    def refresh(self, *a, **k):
        pass


def fetch_variant(
    variant: str | registry.Variant,
    *,
    train_shards: int | None = None,
    dest: str | os.PathLike = "data",
    dry_run: bool = False,
    max_workers: int = 8,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    progress: ProgressFactory | None = None,
    echo: Callable[[str], None] = lambda line: None,
    revision: str | None = None,
) -> FetchResult:
    """Fetch a variant; ``revision`` (a branch, tag or commit sha) overrides the registry's."""
    v = registry.get_variant(variant) if isinstance(variant, str) else variant
    if revision:
        if not v.fetchable:
            raise UsageError(f"variant {v.name} cannot be fetched: {v.fetch_note}")
        v = dataclasses.replace(v, hf_revision=revision)
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    token = token or os.environ.get("HF_TOKEN") or None
    offline = offline_from_env() if offline is None else offline
    files = plan_files(v, train_shards, dest)
    ddir = v.local_dataset_dir(dest)
    result = FetchResult(v.name, ddir, v.hf_revision, None, files, dry_run=dry_run)

    sha: str | None = None
    unresolved = "offline: not resolved"
    if not offline:
        try:
            sha = _resolve(v, files, endpoint, token)
        except HubUnreachable as exc:
            if not dry_run:
                raise
            unresolved = f"not resolved: {exc.args[0]}"
    result.revision_resolved = sha
    if dry_run:
        rev = f"{v.hf_revision} -> {sha}" if sha else f"{v.hf_revision} ({unresolved})"
        echo(f"# {v.hf_repo_id} (dataset) revision {rev}; endpoint {_endpoint_for_display(endpoint)}")
        for f in files:
            size = f"{f.size:>14,}  " if f.size is not None else ""
            echo(f"{size}{f.remote_path}  ->  {f.local_path}")
        known = [f.size for f in files if f.size is not None]
        if known:
            echo(f"# {len(files)} files, {sum(known):,} bytes")
        else:
            echo(f"# {len(files)} files")
        return result

    # What is already here and still matches the manifest is kept.
    try:
        old = mf.read_manifest(ddir)
    except ValueError:
        old = None
    rel = {f.remote_path: os.path.relpath(f.local_path, ddir).replace(os.sep, "/") for f in files}
    candidates = {}
    for f in files:
        e = old.files.get(rel[f.remote_path]) if old else None
        same_rev = old is not None and (sha is None or old.source.get("revision_resolved") in (sha, None))
        if e and same_rev and f.local_path.exists() and f.local_path.stat().st_size == e.size:
            candidates[f.local_path] = (f, e)
    present = mf.sha256_files(candidates, max_workers) if candidates else {}
    todo, force = [], set()
    for f in files:
        got = present.get(f.local_path)
        if got is not None and not isinstance(got, OSError) and got == candidates[f.local_path][1].sha256:
            result.skipped.append(f.remote_path)
        else:
            if got is not None:
                # It was in the manifest and no longer matches: the local file may be a hard
                # link to the cache blob, damaged with it, so the cache copy is not trusted.
                force.add(f.remote_path)
            todo.append(f)

    from huggingface_hub import hf_hub_download

    he = _hub_errors()
    digests: dict[str, str] = {}

    def download(f: RemoteFile, force_download: bool) -> str:
        try:
            path = hf_hub_download(
                # The branch, not the sha: the client then records refs/<branch> in the HF cache,
                # which HF_HUB_OFFLINE needs later; the snapshot sha is checked below.
                v.hf_repo_id, f.remote_path, repo_type="dataset", revision=v.hf_revision,
                endpoint=endpoint, token=token, cache_dir=cache_dir, local_files_only=offline,
                force_download=force_download and not offline, tqdm_class=_RichTqdm,
            )
        except (he.LocalEntryNotFoundError, he.OfflineModeIsEnabled):
            raise EnvironmentProblem(
                f"{f.remote_path} is not in the HF cache and HF_HUB_OFFLINE is set",
                hint="Unset HF_HUB_OFFLINE to download it, or point HF_HOME at a cache that has it.",
            ) from None
        except he.HfHubHTTPError as exc:
            code = exc.response.status_code if exc.response is not None else "?"
            raise EnvironmentProblem(f"download of {f.remote_path} failed (HTTP {code})",
                                     hint="Run the fetch again: completed files are kept.") from None
        except OSError as exc:
            raise EnvironmentProblem(f"download of {f.remote_path} failed: {exc}",
                                     hint="Run the fetch again: completed files are kept.") from None
        got = _SNAPSHOT.search(path)
        if sha is not None and got is not None and got.group(1) != sha:
            raise EnvironmentProblem(
                f"{v.hf_repo_id}@{v.hf_revision} moved from {sha[:12]} to {got.group(1)[:12]} during the fetch",
                hint="Run the fetch again to get one consistent snapshot.")
        _link_into(path, f.local_path)
        return path

    def one(f: RemoteFile) -> tuple[RemoteFile, str]:
        download(f, f.remote_path in force)
        digest = mf.sha256_file(f.local_path)
        if f.upstream_sha256 and digest != f.upstream_sha256 and f.remote_path not in force:
            download(f, True)  # the cache held a damaged copy: fetch it afresh once
            digest = mf.sha256_file(f.local_path)
        if f.upstream_sha256 and digest != f.upstream_sha256:
            raise VerificationFailed(
                f"{f.remote_path}: sha256 {digest[:16]}... differs from the hub's LFS sha256 {f.upstream_sha256[:16]}...")
        return f, digest

    if todo:
        # the caller's bar (harness.ui.byte_bar), fed by the hub client's tqdm
        bar = open_bar(progress, f"fetch {v.name} ({len(todo)} files)", sum(f.size or 0 for f in todo) or None)
        _RichTqdm.advance = staticmethod(bar.advance)
        _RichTqdm.add_total = staticmethod(lambda n: None)
        try:
            with bar, ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
                for f, digest in pool.map(one, todo):
                    digests[f.remote_path] = digest
                    result.downloaded.append(f.remote_path)
                    if not bar.live:  # no live bar (not a terminal): one line per file
                        echo(f"fetched {f.remote_path} ({f.local_path.stat().st_size:,} bytes, sha256 {digest[:12]})")
        finally:
            _RichTqdm.advance = staticmethod(lambda n: None)

    if sha is None:  # offline: the cache path names the snapshot it came from
        for f in files:
            if f.remote_path in result.downloaded:
                from huggingface_hub import try_to_load_from_cache

                cached = try_to_load_from_cache(v.hf_repo_id, f.remote_path, cache_dir=cache_dir,
                                                revision=v.hf_revision, repo_type="dataset")
                m = _SNAPSHOT.search(str(cached)) if isinstance(cached, str) else None
                if m:
                    sha = m.group(1)
                    break
        if sha is None and old is not None:
            sha = old.source.get("revision_resolved")
        result.revision_resolved = sha

    # The manifest: every planned file (kept ones reuse their verified hash).
    man = mf.Manifest(variant=v.name, created_at=mf.now_utc())
    man.source = {
        "kind": "hf",
        "repo_id": v.hf_repo_id,
        "repo_type": "dataset",
        "revision_requested": v.hf_revision,
        "revision_resolved": sha,
        "revision_pinned": v.revision_pinned,  # requested revision was a commit sha
        "endpoint": _endpoint_for_display(endpoint),
        "trust": "on first use: no upstream per-file hashes are published beyond the hub's LFS sha256",
        "offline": offline,
        "fetched_at": man.created_at,
    }
    for f in files:
        key = rel[f.remote_path]
        if f.remote_path in digests:
            digest = digests[f.remote_path]
        else:
            digest = candidates[f.local_path][1].sha256
        e = mf.entry_for(f.local_path, digest, remote_path=f.remote_path,
                         upstream_sha256=f.upstream_sha256 or (old.files[key].upstream_sha256 if old and key in old.files else None))
        man.files[key] = e
    if old is not None:  # keep entries for files this fetch did not plan (e.g. more train shards from before)
        for key, e in old.files.items():
            if key not in man.files and (ddir / key).exists():
                man.files[key] = e
    man.observed = mf.observe_val(ddir)
    result.observed = man.observed
    result.manifest_path = mf.write_manifest(ddir, man)

    for name, observed_key in (("val_tokens", "val_tokens"), ("val_bytes", "val_bytes_sum")):
        fig = v.figures.get(name)
        if fig is not None and observed_key in man.observed:
            ok, msg = fig.check(man.observed[observed_key])
            result.figure_checks.append((ok, f"{name}: {msg}"))
    return result


def raise_on_contradiction(result: FetchResult) -> None:
    bad = [msg for ok, msg in result.figure_checks if ok is False]
    if bad:
        raise VerificationFailed(
            f"fetched {result.variant} but it contradicts the registry: {'; '.join(bad)}",
            hint=f"The files and {mf.MANIFEST_NAME} were kept in {result.dataset_dir}; check the repo and revision.",
        )


__all__ = ["RemoteFile", "FetchResult", "plan_files", "fetch_variant", "raise_on_contradiction", "HarnessError"]
