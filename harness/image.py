"""The container image: build arguments rendered from the env profile, and podman helpers.

`harness/policies/reference-2026-04.toml` is the single source of the image's pins.
`build_args()` renders them as the Dockerfile's ARGs (`python -m harness.image
build-args` prints `--build-arg` flags), and `dockerfile_defaults()` reads the
Dockerfile's own ARG defaults so a test proves the two agree.

The podman helpers build and run the image on a machine without a Docker daemon
or registry (../shared/CONTAINERS.md): a private store configured through
CONTAINERS_CONF / CONTAINERS_STORAGE_CONF (native overlay, runc, cgroupfs, file
events, ulimits no higher than the machine's), a minimal Debian base made with
debootstrap and imported as `localhost/bookworm-min`, builds with host
networking and runs with `--network none`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.core.schema import loads_toml
from harness.env import ENV_PROFILE_ID, load_profile

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
BASE_MIN = "localhost/bookworm-min"
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


# ----------------------------------------------------------------------------- pins

def build_args(profile: str | Path = ENV_PROFILE_ID) -> dict[str, str]:
    """The Dockerfile's ARG values for the GPU image, from the env profile (the source of truth)."""
    p = load_profile(profile)
    e = p["env"]
    return {
        "BASE": p["image"]["base"],
        "TORCH_SPEC": f"torch=={e['torch']}",
        "TORCH_INDEX": e["torch_index"],
        "FA3_SPEC": f"{e['fa3_dist']}=={e['fa3_version']}",
        "FA3_FIND_LINKS": e["fa3_find_links"],
        "BROTLI_VERSION": e["brotli"],
        "ZSTANDARD_VERSION": e["zstandard"],
        "SENTENCEPIECE_VERSION": e["sentencepiece"],
        "HUGGINGFACE_HUB_VERSION": e["huggingface_hub"],
        "PYTHON_MINIFIER_VERSION": e["python_minifier"],
        "PROFILE_ID": str(p["id"]),
    }


def cpu_build_args(torch_spec: str, profile: str | Path = ENV_PROFILE_ID) -> dict[str, str]:
    """The CPU variant CI builds: local Debian base, CPU torch from the wheel folder, no FA3, offline pip."""
    args = build_args(profile)
    args.update({"BASE": BASE_MIN, "TORCH_SPEC": torch_spec, "TORCH_INDEX": "", "FA3_SPEC": "",
                 "WHEELHOUSE_ONLY": "1"})
    return args


_ARG_RE = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?\s*$")


def dockerfile_defaults(path: Path = DOCKERFILE) -> dict[str, str | None]:
    """ARG name -> default value as written in the Dockerfile (None when it has none)."""
    out: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        m = _ARG_RE.match(line)
        if m and m.group(1) not in out:
            v = m.group(2)
            out[m.group(1)] = v.strip().strip('"') if v is not None else None
        elif m and m.group(2) is not None:
            out[m.group(1)] = m.group(2).strip().strip('"')
    return out


def git_commit(repo: Path = REPO) -> str:
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def pinned_specs(args: dict[str, str]) -> list[str]:
    """The pip requirement specs the Dockerfile installs after torch, from its build args."""
    return [f"brotli=={args['BROTLI_VERSION']}", f"zstandard=={args['ZSTANDARD_VERSION']}",
            f"sentencepiece=={args['SENTENCEPIECE_VERSION']}", f"huggingface_hub=={args['HUGGINGFACE_HUB_VERSION']}",
            f"python-minifier=={args['PYTHON_MINIFIER_VERSION']}"]


def flags(args: dict[str, str]) -> list[str]:
    return [x for k, v in args.items() for x in ("--build-arg", f"{k}={v}")]


# ----------------------------------------------------------------------------- podman

def cache_root() -> Path:
    """Where the debootstrap base and the podman store are kept between runs (reused layers)."""
    base = os.environ.get("PGOLF_PODMAN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pgolf-harness", "podman")
    return Path(base)


@dataclass
class Podman:
    """A podman with its own store and settings under `root` (nothing global is touched)."""

    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "containers.conf").write_text(
            '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n\n'
            '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            f'events_logfile_path = "{self.root}/events.log"\n')
        (self.root / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{self.root}/run"\ngraphroot = "{self.root}/graph"\n')

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, CONTAINERS_CONF=str(self.root / "containers.conf"),
                    CONTAINERS_STORAGE_CONF=str(self.root / "storage.conf"), BUILDAH_ISOLATION="chroot")

    def __call__(self, *args: str, timeout: float = 1800, input_bytes: bytes | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(["podman", *args], env=self.env, capture_output=True, timeout=timeout, input=input_bytes)
        if check and p.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args[:3])} failed ({p.returncode}):\n"
                               f"{p.stdout.decode(errors='replace')[-3000:]}\n{p.stderr.decode(errors='replace')[-3000:]}")
        return p

    def has_image(self, ref: str) -> bool:
        return self("image", "exists", ref, check=False).returncode == 0


def debian_mirror() -> str:
    """The Debian mirror apt already uses on this machine (debootstrap must reach the same one)."""
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = f.read_text()
        except OSError:
            continue
        m = re.search(r"(?:URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(https?://\S+/debian)\b", text, re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def ensure_base(pm: Podman, ref: str = BASE_MIN, suite: str = "bookworm") -> float:
    """Make `ref` (a minimal Debian rootfs imported into the store) unless present; seconds spent."""
    if pm.has_image(ref):
        return 0.0
    t0 = time.monotonic()
    rootfs = pm.root / "rootfs"
    if not (rootfs / "etc" / "os-release").exists():
        tmp = pm.root / "rootfs.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", suite, str(tmp), debian_mirror()],
                       check=True, capture_output=True, timeout=1200)
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives"):  # 204 MB -> ~121 MB
            for p in (tmp / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tmp.rename(rootfs)
    tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True, timeout=600)
    pm("import", "-", ref, input_bytes=tar.stdout, timeout=600)
    return time.monotonic() - t0


def find_cpu_torch_wheel() -> Path | None:
    """The CPU torch wheel in pip's configured find-links folder (CI ships one for CPython 3.11)."""
    dirs = [os.environ.get("PIP_FIND_LINKS", "")]
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60)
        dirs += re.findall(r"find-links='([^']+)'", out.stdout)
    except OSError:
        pass
    for d in dirs:
        for part in d.split():
            hits = sorted(Path(part).glob("torch-*+cpu-cp311-*.whl")) if Path(part).is_dir() else []
            if hits:
                return hits[-1]
    return None


def make_context(dest: Path, torch_wheel: Path, extra_specs: list[str]) -> Path:
    """A build context: the repo's tracked + untracked-not-ignored files, plus a wheelhouse holding
    the CPU torch wheel and every other wheel the offline build needs (pip download, host config)."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"],
                           capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for f in filter(None, files):
        src = REPO / f
        if src.is_file() and not f.startswith((".git/", "runs/", "data/")):
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    wh = dest / "docker" / "wheelhouse"
    wh.mkdir(parents=True, exist_ok=True)
    os.link(torch_wheel, wh / torch_wheel.name) if _same_fs(torch_wheel, wh) else shutil.copy2(torch_wheel, wh)
    # Dependencies of torch, the pinned tools, this package and its build backend, for CPython 3.11 (bookworm).
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wh), "--only-binary=:all:",
                    "--python-version", "3.11", "--platform", "manylinux_2_28_x86_64", "--platform",
                    "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64", "--implementation", "cp",
                    "--find-links", str(torch_wheel.parent), str(wh / torch_wheel.name), "setuptools>=68", "wheel",
                    *extra_specs, str(REPO)], check=True, capture_output=True, timeout=900)
    return dest


def _same_fs(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False


def project_deps() -> list[str]:
    pyproject = REPO / "pyproject.toml"
    return list(loads_toml(pyproject.read_text(encoding="utf-8"), str(pyproject))["project"]["dependencies"])


def build(pm: Podman, context: Path, tag: str, args: dict[str, str], timeout: float = 1800) -> float:
    """podman build (chroot isolation, host network for apt, docker format so SHELL is kept); returns seconds."""
    t0 = time.monotonic()
    # The host's CA bundle as the build secret "ca": downloads inside the build (apt, pip for the GPU
    # image) go through the same TLS chain as the host's (CONTAINERS.md); never stored in a layer.
    ca = Path("/etc/ssl/certs/ca-certificates.crt")
    secret = ["--secret", f"id=ca,src={ca}"] if ca.is_file() else []
    pm("build", "--format", "docker", "--isolation", "chroot", "--network", "host", *ULIMITS, *secret, *flags(args),
       "-t", tag, "-f", str(context / "Dockerfile"), str(context), timeout=timeout)
    return time.monotonic() - t0


def image_size(pm: Podman, tag: str) -> int:
    out = pm("image", "inspect", "--format", "{{.Size}}", tag).stdout.decode().strip()
    return int(out)


# Unmasked /proc paths let the harness mount a fresh /proc inside the seed's PID namespace, so a
# seed is killed as a whole (pid 1 of its namespace dies). Under the default masks an unprivileged
# container only offers killpg, which leaves torchrun ranks alive (GPU_NOTES.md). Same flag for docker.
SANDBOX_OPTS = ["--security-opt", "systempaths=unconfined"]


def run(pm: Podman, tag: str, *argv: str, volumes: list[str] | None = None, entrypoint: str | None = None,
        opts: list[str] | None = None, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    """Run the image's entrypoint (`harness`, or `entrypoint`) with `argv`, no network, as its non-root user."""
    vol = [x for v in (volumes or []) for x in ("-v", v)]
    ep = ["--entrypoint", entrypoint] if entrypoint else []
    return pm("run", "--rm", "--network", "none", *ULIMITS, *(opts or []), *vol, *ep, tag, *argv,
              timeout=timeout, check=check)


def prune(pm: Podman) -> None:
    """Drop dangling images (earlier builds of the same tag) so a reused store does not grow without end."""
    pm("image", "prune", "-f", check=False, timeout=600)


def mirror_reachable(mirror: str | None = None, suite: str = "bookworm", timeout: float = 5.0) -> str | None:
    """None when the Debian mirror answers (debootstrap and apt in the build need it), else why not."""
    import urllib.request  # noqa: PLC0415

    url = f"{(mirror or debian_mirror()).rstrip('/')}/dists/{suite}/Release"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as r:
            return None if r.status == 200 else f"{url} answered HTTP {r.status}"
    except OSError as e:
        return f"{url} is unreachable ({e})"


def podman_unavailable() -> str | None:
    """None when this machine can build and run the image as CONTAINERS.md describes, else the reason."""
    missing = [t for t in ("podman", "runc", "debootstrap") if shutil.which(t) is None]
    if missing:
        return f"{', '.join(missing)} not installed (.ci/setup-podman.sh installs them)"
    if os.geteuid() != 0:
        return "podman builds here run as root (rootless podman needs subuid ranges this setup does not make)"
    return None


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.image build-args [--cpu TORCH_SPEC]`: the build flags from the profile, one shell word each.

    `python -m harness.image build [--cpu] [--tag TAG]`: build with podman as CONTAINERS.md describes
    (GPU image from the pinned CUDA base, or with --cpu the CI variant on a debootstrap base with the
    CPU torch wheel from pip's find-links) and print the build time and image size.
    """
    import shlex  # noqa: PLC0415

    a = list(sys.argv[1:] if argv is None else argv)
    if a[:1] == ["build-args"]:
        args = cpu_build_args(a[a.index("--cpu") + 1]) if "--cpu" in a else build_args()
        args["GIT_COMMIT"] = git_commit()
        print(" ".join(f"--build-arg {shlex.quote(f'{k}={v}')}" for k, v in args.items()))
        return 0
    if a[:1] == ["build"]:
        why = podman_unavailable()
        if why:
            print(f"cannot build here: {why}", file=sys.stderr)
            return 3
        tag = a[a.index("--tag") + 1] if "--tag" in a else ("localhost/pgolf-harness:cpu" if "--cpu" in a
                                                              else "localhost/pgolf-harness:reference-2026-04")
        pm = Podman(cache_root())
        if "--cpu" in a:
            wheel = find_cpu_torch_wheel()
            if wheel is None:
                print("cannot build here: no CPU torch wheel for CPython 3.11 in pip's find-links", file=sys.stderr)
                return 3
            base_s = ensure_base(pm)
            args = cpu_build_args("torch==" + wheel.name.split("-")[1])
            args["GIT_COMMIT"] = git_commit()
            import tempfile  # noqa: PLC0415
            with tempfile.TemporaryDirectory() as tmp:
                ctx = make_context(Path(tmp) / "ctx", wheel, pinned_specs(args) + project_deps())
                secs = build(pm, ctx, tag, args)
        else:  # the GPU image: pulls the CUDA base and downloads torch/FA3 (network needed)
            base_s = 0.0
            args = dict(build_args(), GIT_COMMIT=git_commit())
            secs = build(pm, REPO, tag, args, timeout=7200)
        prune(pm)
        print(f"built {tag} in {secs:.0f} s (base {base_s:.0f} s), {image_size(pm, tag) / 1e9:.2f} GB, store {pm.root}")
        return 0
    print("usage: python -m harness.image build-args [--cpu TORCH_SPEC] | build [--cpu] [--tag TAG]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
