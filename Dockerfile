# syntax=docker/dockerfile:1
# pgolf-harness runtime image: the reference-2026-04 environment (torch 2.9.1+cu128,
# CUDA 12.8, Python 3.12, FlashAttention 3, lrzip, brotli, ...) plus this package.
#
# Every pin below is rendered from harness/policies/reference-2026-04.toml (the single source
# of truth): `python -m harness.image build-args` prints them and
# tests/test_image_pins.py fails when an ARG default here drifts from that file.
#
#   docker build -t pgolf-harness .
#   docker run --gpus all --network none -v "$PWD/data:/data" pgolf-harness env check
#   docker run --gpus all --network none --user 0 --security-opt systempaths=unconfined \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     -v "$PWD/data:/data" -v "$PWD/runs:/runs" pgolf-harness reproduce submissions/reference --out /runs
# Each seed runs under bubblewrap inside the container (README: Isolation). It needs user namespaces
# (Docker's default seccomp profile forbids them; podman's allows them) and a fresh /proc
# (systempaths=unconfined); AppArmor hosts also need apparmor=unconfined. --user 0 lets the harness
# run the trainer as a uid of its own; as the image's user 10001 everything else still holds.
#
# CPU variant (tests/test_image.py builds it with podman from a local Debian base and a
# filled wheel folder; `python -m harness.image build-args --cpu torch==2.13.0+cpu`):
#   --build-arg BASE=localhost/bookworm-min --build-arg TORCH_SPEC=torch==2.13.0+cpu
#   --build-arg TORCH_INDEX= --build-arg FA3_SPEC= --build-arg WHEELHOUSE_ONLY=1
# Refresh the base digest:
#   skopeo inspect --format '{{.Digest}}' docker://docker.io/nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04
ARG BASE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04@sha256:24c8e3581ea6330038b0d374920721983312627f8adbfcf390bdb4b399d280ed
FROM ${BASE}

ARG BASE
ARG TORCH_SPEC=torch==2.9.1+cu128
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
ARG FA3_SPEC=flash_attn_3==3.0.0+20260303.cu128torch291cxx11abitrue.ceb109
ARG FA3_FIND_LINKS=https://windreamer.github.io/flash-attention3-wheels/cu128_torch291/
ARG BROTLI_VERSION=1.2.0
ARG ZSTANDARD_VERSION=0.25.0
ARG SENTENCEPIECE_VERSION=0.2.1
ARG HUGGINGFACE_HUB_VERSION=2.4.0
ARG PYTHON_MINIFIER_VERSION=3.4.0
ARG PROFILE_ID=reference-2026-04
# 1: install Python packages only from docker/wheelhouse/ (offline builds, CI)
ARG WHEELHOUSE_ONLY=0
ARG GIT_COMMIT=unknown

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HARNESS_DATA=/data \
    HF_HOME=/home/golfer/.cache/huggingface

# Distribution packages: python3 (3.12 on Ubuntu 24.04), lrzip (records' COMPRESSOR=pergroup),
# a C compiler and Python headers (torch.compile / Triton build small launchers at run time).
# Versions come with the pinned base image (its digest pins them).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev gcc g++ lrzip bubblewrap ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

# The pip helper, copied alone so that editing anything else keeps the torch layer cached.
# Wheels in docker/wheelhouse/ (only a README for the online GPU build) are bind-mounted into
# the pip steps; .dockerignore keeps them out of the context, so they never become a layer.
COPY docker/pip-install.sh /usr/local/lib/pgolf-harness/

# torch (+ triton, its own dependency), then FlashAttention 3 from the pinned wheel (skipped when FA3_SPEC is empty).
RUN --mount=type=secret,id=ca,required=false --mount=type=bind,source=docker/wheelhouse,target=/tmp/wheelhouse \
    /usr/local/lib/pgolf-harness/pip-install.sh --index "$TORCH_INDEX" "$TORCH_SPEC" \
 && if [ -n "$FA3_SPEC" ]; then /usr/local/lib/pgolf-harness/pip-install.sh --no-deps --find-links "$FA3_FIND_LINKS" "$FA3_SPEC"; fi

# The tools records call, pinned, then this package, built as a wheel from the context (bind-mounted
# read-write: the build's scratch files are discarded) and installed non-editable: policies and the
# dataset registry (and the submissions/NAME registry) are package data, found wherever the wheel lands.
# submissions/ is also copied, readable beside the harness for users who browse or edit a manifest, owned
# by the runtime user from the start (a later `chown -R` would copy it into a second layer).
COPY --chown=10001:10001 submissions /opt/pgolf-harness/submissions
RUN --mount=type=secret,id=ca,required=false --mount=type=bind,source=docker/wheelhouse,target=/tmp/wheelhouse \
    --mount=type=bind,source=.,target=/tmp/src,rw \
    /usr/local/lib/pgolf-harness/pip-install.sh \
      "brotli==$BROTLI_VERSION" "zstandard==$ZSTANDARD_VERSION" "sentencepiece==$SENTENCEPIECE_VERSION" \
      "huggingface_hub==$HUGGINGFACE_HUB_VERSION" "python-minifier==$PYTHON_MINIFIER_VERSION" \
 && /usr/local/lib/pgolf-harness/pip-install.sh /tmp/src \
 && python /tmp/src/docker/provenance.py --out /etc/pgolf-harness/provenance.json \
      --base "$BASE" --profile "$PROFILE_ID" --git-commit "$GIT_COMMIT" \
      --arg "TORCH_SPEC=$TORCH_SPEC" --arg "TORCH_INDEX=$TORCH_INDEX" --arg "FA3_SPEC=$FA3_SPEC" \
      --arg "FA3_FIND_LINKS=$FA3_FIND_LINKS" --arg "WHEELHOUSE_ONLY=$WHEELHOUSE_ONLY" \
 && useradd -l -m -u 10001 golfer \
 && mkdir -p /data /home/golfer/.cache/huggingface \
 && chown -R 10001:10001 /data /home/golfer

USER 10001:10001
WORKDIR /opt/pgolf-harness
VOLUME ["/data", "/home/golfer/.cache/huggingface"]
ENTRYPOINT ["harness"]
CMD ["--help"]
