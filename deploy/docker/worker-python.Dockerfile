# syntax=docker/dockerfile:1
#
# OSForAI Python worker image: the Python runner alone, for the Kubernetes worker host (runtime kind python3).
#
#   docker build -f deploy/docker/worker-python.Dockerfile -t osforai/worker-python:dev .
#
# The gateway (runtime.Dockerfile, `osai serve` with OSForAI__Workers__Host=Kubernetes) creates one pod per worker
# from this image on the CPU (system) node pool. The pod starts as a generic worker: the runner dials the gateway at
# OSAI_WORKER_ADDRESS (tcp:<gateway pod IP>:7071), authenticates with its per-pod secret (OSAI_WORKER_SECRET), and is
# then specialized by loading a version's code (docs/worker-protocol.md). Both variables are set by the worker host in
# the pod spec; nothing else is configured here. Stacks config: workerPythonImage.
#
# Pod-friendly by construction:
#   - non-root uid/gid 10001 (the same as the other images), so runAsNonRoot and runAsUser: 10001 hold;
#   - works with readOnlyRootFilesystem: true. Nothing is written outside /tmp (HOME points there; Python writes no
#     bytecode), and the worker host mounts an emptyDir at /tmp;
#   - the runner is at a fixed path and is the entry point (under tini, which reaps what algorithms leave behind and
#     forwards SIGTERM), so the pod spec needs no command;
#   - standard library only, as the runner is; algorithms that need more bring it in their build.
#
# Base: Ubuntu 24.04, whose python3 (3.12) is the one the runtime image's process workers use, so an algorithm behaves
# the same on the process host and in a pod. linux/amd64, like the other images. Pin a digest for reproducible builds.

ARG UBUNTU_TAG=24.04

FROM --platform=linux/amd64 ubuntu:${UBUNTU_TAG} AS runtime

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 osforai \
 && useradd --system --uid 10001 --gid osforai --home-dir /tmp --no-create-home --shell /usr/sbin/nologin osforai

# The runner at the same path as in the runtime image.
COPY runtime/runners/python/osai_runner.py /app/runners/python/osai_runner.py

ENV HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /tmp
USER 10001:10001

# No port: the worker dials out to the gateway; nothing connects to it.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/bin/python3", "-u", "-S", "/app/runners/python/osai_runner.py"]
