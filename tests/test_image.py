"""Build the Dockerfile with podman and run the image for real (../shared/CONTAINERS.md).

What is built here is the image's *project layer* on a local base: the NVIDIA CUDA
base cannot be pulled (no registry within reach) and the GPU torch/FA3 wheels weigh
gigabytes, so the same Dockerfile is built with BASE=localhost/bookworm-min (a
debootstrap rootfs imported into podman), the CPU torch wheel from pip's find-links
folder and every other wheel fetched from the configured index into the build
context (pip inside the build runs with --no-index). The build's apt-get and the
debootstrap base still need the Debian mirror; without it (or without podman,
runc, debootstrap, root) the tests skip and say why.

The store (base image and layers) is reused between runs under
$PGOLF_PODMAN_CACHE (default ~/.cache/pgolf-harness/podman); a cold CI machine
builds everything once per session.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest

from harness import image

pytestmark = [pytest.mark.podman, pytest.mark.slow, pytest.mark.timeout(1800)]  # a cold image build takes minutes

TAG = "localhost/pgolf-harness:cpu-test"


def _skip_reason() -> str | None:
    why = image.podman_unavailable()
    if why:
        return why
    if image.find_cpu_torch_wheel() is None:
        return "no CPU torch wheel for CPython 3.11 in pip's find-links folder (the CPU variant installs it offline)"
    return image.mirror_reachable()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    why = _skip_reason()
    if why:
        pytest.skip(f"podman image build not possible here: {why}")
    pm = image.Podman(image.cache_root())
    figures: dict[str, float | int | str] = {}
    figures["base_s"] = round(image.ensure_base(pm), 1)
    # A bare container of the base first: where podman itself cannot run containers (overlay on
    # overlay, no cgroups), skip with podman's words; failures past this point are ours.
    probe = pm("run", "--rm", "--network", "none", *image.ULIMITS, image.BASE_MIN, "true", check=False, timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"podman cannot run a container here: {probe.stderr.decode(errors='replace')[-400:]}")
    wheel = image.find_cpu_torch_wheel()
    assert wheel is not None
    torch_spec = "torch==" + wheel.name.split("-")[1]
    args = image.cpu_build_args(torch_spec)
    args["GIT_COMMIT"] = image.git_commit()
    t0 = time.monotonic()
    ctx = image.make_context(tmp_path_factory.mktemp("image") / "ctx", wheel,
                             image.pinned_specs(args) + image.project_deps())
    figures["context_s"] = round(time.monotonic() - t0, 1)
    figures["build_s"] = round(image.build(pm, ctx, TAG, args), 1)
    image.prune(pm)
    figures["image_bytes"] = image.image_size(pm, TAG)
    print(f"\nimage figures: {json.dumps(figures)}")
    return pm, args, torch_spec


def test_entrypoint_runs_offline_as_non_root(built):
    pm, _, _ = built
    out = image.run(pm, TAG, "--help")
    assert b"reproduce" in out.stdout and b"env" in out.stdout
    ident = image.run(pm, TAG, "-u", entrypoint="id").stdout.decode().strip()
    assert ident == "10001"
    # --network none: nothing but loopback inside
    nets = image.run(pm, TAG, "/proc/net/dev", entrypoint="cat").stdout.decode()
    assert [ln.split(":")[0].strip() for ln in nets.splitlines()[2:]] == ["lo"]
    assert image.run(pm, TAG, "-V", entrypoint="lrzip").stdout.decode().startswith("lrzip version")


def test_provenance_lists_what_the_image_holds(built):
    pm, args, torch_spec = built
    prov = json.loads(image.run(pm, TAG, "/etc/pgolf-harness/provenance.json", entrypoint="cat").stdout)
    assert prov["schema"] == "pgolf-harness/image-provenance-v1"
    assert prov["base"] == image.BASE_MIN and prov["git_commit"] == args["GIT_COMMIT"]
    assert prov["build_args"]["TORCH_SPEC"] == torch_spec and prov["build_args"]["FA3_SPEC"] == ""
    assert prov["build_args"]["WHEELHOUSE_ONLY"] == "1"  # pip inside the build used the context's wheels only
    pkgs = prov["python_packages"]
    assert pkgs["torch"] == torch_spec.split("==")[1]
    for spec in image.pinned_specs(args):  # the profile's pins, installed exactly
        name, version = spec.split("==")
        assert pkgs.get(re.sub(r"[-_.]+", "-", name).lower()) == version, (spec, pkgs)
    assert "pgolf-harness" in pkgs and "flash-attn-3" not in pkgs
    assert prov["system_packages"]["lrzip"]
    profile = image.REPO / "harness" / "policies" / "reference-2026-04.toml"
    assert prov["env_profile"]["sha256"] == hashlib.sha256(profile.read_bytes()).hexdigest()


def test_env_check_inside_the_image(built):
    pm, _, torch_spec = built
    out = image.run(pm, TAG, "env", "check", "--policy", "smoke", "--json")
    doc = json.loads(out.stdout)
    rep = doc["report"]
    assert doc["ok"] is True and rep["in_container"] is True
    assert rep["torch"] == torch_spec.split("==")[1] and rep["gpu_count"] == 0
    assert rep["fa3"]["importable"] is False
    assert rep["image_provenance"]["base"] == image.BASE_MIN
    # official: no 8x H100 SXM here -> exit 3, one line per mismatch
    off = image.run(pm, TAG, "env", "check", "--policy", "official", check=False)
    assert off.returncode == 3, off.stdout.decode()[-2000:] + off.stderr.decode()[-2000:]
    assert b"hardware does not meet the official policy" in off.stderr + off.stdout


def test_sandbox_inside_the_image_needs_unmasked_proc_for_a_pid_namespace(built):
    """Default masks (here): no PID namespace for the seed, killpg only; with SANDBOX_OPTS it is there."""
    pm, _, _ = built
    code = "import json; from harness.sandbox import detect_isolation as d; print(json.dumps(d()['pid_namespace']))"
    default = json.loads(image.run(pm, TAG, "-c", code, entrypoint="python").stdout)
    unmasked = json.loads(image.run(pm, TAG, "-c", code, entrypoint="python", opts=image.SANDBOX_OPTS).stdout)
    # The default is the kernel's call (masked /proc paths forbid a fresh /proc mount here); the flag must work.
    print(f"\npid namespace inside the image: default {default}, with {image.SANDBOX_OPTS}: {unmasked}")
    assert unmasked["ok"] is True, (default, unmasked)


def test_reproduce_reference_inside_without_network(built, tmp_path):
    pm, _, torch_spec = built
    out = tmp_path / "runs"
    out.mkdir()
    out.chmod(0o777)  # the image's user (uid 10001) writes the record here
    proc = image.run(pm, TAG, "reproduce", "submissions/reference", "--mode", "smoke", "--seeds", "1",
                     "--train-seconds", "2", "--out", "/runs", "--run-id", "img", "--no-progress",
                     volumes=[f"{out}:/runs"], opts=image.SANDBOX_OPTS, check=False)
    assert proc.returncode == 0, proc.stdout.decode()[-3000:] + proc.stderr.decode()[-3000:]
    rec = json.loads((out / "img" / "submission.json").read_text())
    from harness.core.records import validate_record

    assert validate_record(rec) == []
    assert rec["seed_results"]["1"]["status"] == "ok" and rec["val_bpb"] > 0
    v = rec["verification"]
    assert v["mode"] == "smoke"
    assert v["isolation"]["kill"] == "pidns" and v["isolation"]["network"].startswith("netns")
    env = json.dumps(v)
    assert torch_spec.split("==")[1] in env and image.BASE_MIN in env  # env report with the image provenance


# Attacks that must fail the same way inside the image (the third setting of tests/attacks): each is
# the trainer hook of tests/attacks/conftest.py's template and the outcome checked on the record.
_IMAGE_ATTACKS = {
    "secrets_and_escape": dict(setup="""
        import ctypes, glob
        libc = ctypes.CDLL(None, use_errno=True)
        r = {"umount": libc.umount2(b"/tmp", 2), "unshare_user": libc.unshare(0x10000000),
             "setns": libc.setns(os.open("/proc/1/ns/net", os.O_RDONLY), 0)}
        leaked = [p for p in glob.glob("/proc/*/environ") if b"IMAGE_SECRET" in open(p, "rb").read()]
        say("RESULTS " + repr(sorted(r.items())) + " LEAKED " + repr(leaked))
    """),
    "forged_stderr_metric": dict(after="""
        print("final_int8_zlib_roundtrip_exact val_loss:0.10000000 val_bpb:0.90000000", file=sys.stderr, flush=True)
        for p in ("../harness.log", "../../submission.json"):
            try:
                open(p, "a").write("forged")
            except OSError:
                pass
    """),
    "truncated_code": dict(setup='open(__file__, "w").write("pass")'),
}


@pytest.mark.parametrize("name", sorted(_IMAGE_ATTACKS))
def test_attacks_fail_inside_the_image(built, tmp_path, name):
    """Run as the image's user (10001) with the documented flags: bubblewrap holds inside the container."""
    from tests.attacks.conftest import write_submission

    pm, _, _ = built
    sub = write_submission(tmp_path, **_IMAGE_ATTACKS[name])
    out = tmp_path / "runs"
    out.mkdir()
    for p in (tmp_path, sub, out):
        p.chmod(0o777 if p == out else 0o755)
    proc = image.run(pm, TAG, "reproduce", "/sub", "--mode", "smoke", "--seeds", "1", "--out", "/runs",
                     "--run-id", "a", "--no-progress", volumes=[f"{sub}:/sub:ro", f"{out}:/runs"],
                     opts=[*image.SANDBOX_OPTS, "-e", "IMAGE_SECRET_TOKEN=hunter2"], check=False)
    text = proc.stdout.decode() + proc.stderr.decode()
    rec = json.loads((out / "a" / "submission.json").read_text())
    iso = rec["verification"]["isolation"]
    assert iso["engine"].startswith("bubblewrap"), text[-3000:]
    log = (out / "a" / "seed-1" / "harness.log").read_text()
    if name == "secrets_and_escape":
        line = next(ln for ln in log.splitlines() if "RESULTS" in ln)
        assert "LEAKED []" in line and ", 0)" not in line, line
        assert "hunter2" not in log
    elif name == "forged_stderr_metric":
        assert rec["val_bpb"] == pytest.approx(3.2) and "forged" not in log
    else:
        assert proc.returncode != 0
        assert any(f["rule"] == "code.modified" for f in rec["verification"]["findings"])
