# syntax=docker/dockerfile:1
#
# OSForAI runtime image (CPU): the `osai serve` server with its workers beside it.
#
#   docker build -f deploy/docker/runtime.Dockerfile -t osforai/runtime:dev .
#   docker run -p 8080:8080 -v osforai:/var/lib/osforai osforai/runtime:dev
#
# What runs inside: the server (runtime/OSForAI.Cli, `osai serve`) starts the Python runner
# (runtime/runners/python/osai_runner.py, on Ubuntu's python3) and the ONNX model worker
# (runtime/OSForAI.Worker, `dotnet exec OSForAI.Worker.dll`) as child processes. Models run on the
# CPU here; deploy/docker/worker-gpu.Dockerfile is the same server for GPU nodes.
#
# Platform: linux/amd64 only. The publish targets linux-x64 and ONNX Runtime's GPU package ships
# x64 native libraries only, so the runtime stage is pinned to amd64; the build stage runs on the
# builder's own platform (cross-publishing to linux-x64 works from any host, e.g. an arm64 Mac).
#
# Base images: .NET 10 publishes no Debian images; its default (and this file's) distro is
# Ubuntu 24.04 "noble", the same distro as the CUDA image of the GPU variant. The tags are pinned
# to .NET 10.0 on noble and float only over patch releases; pin a digest (tag@sha256:...) where
# builds must be reproducible byte for byte.

ARG DOTNET_TAG=10.0-noble

# ---------------------------------------------------------------------------------------------
# Build: publish the server (osai) and the model worker into /app, framework-dependent, linux-x64.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:${DOTNET_TAG} AS build
WORKDIR /src

# Only what the runtime projects need: the shared build properties and runtime/ (every project the
# server references lives there; .dockerignore keeps bin/ and obj/ out).
COPY Directory.Build.props ./
COPY runtime/ runtime/

# IsRidAgnostic=false: the server references the worker (an executable) through a library; without
# it the worker is built once with and once without the RID and publish stops on duplicate
# OSForAI.Worker.deps.json/runtimeconfig.json files (NETSDK1152).
ARG PUBLISH_FLAGS="-c Release -r linux-x64 --self-contained false -p:IsRidAgnostic=false -nologo"
RUN --mount=type=cache,id=osforai-nuget,target=/root/.nuget/packages \
    dotnet restore runtime/OSForAI.Cli/OSForAI.Cli.csproj -r linux-x64 -p:IsRidAgnostic=false \
 && dotnet restore runtime/OSForAI.Worker/OSForAI.Worker.csproj -r linux-x64 -p:IsRidAgnostic=false \
 && dotnet publish runtime/OSForAI.Cli/OSForAI.Cli.csproj --no-restore $PUBLISH_FLAGS -o /app \
 && dotnet publish runtime/OSForAI.Worker/OSForAI.Worker.csproj --no-restore $PUBLISH_FLAGS -o /app \
 && rm -f /app/*.pdb \
 && test -f /app/osai.dll \
 && test -f /app/OSForAI.Worker.dll \
 && test -f /app/OSForAI.Worker.runtimeconfig.json \
 && test -f /app/libonnxruntime.so \
 && test -f /app/runners/python/osai_runner.py

# The CPU image has no CUDA libraries, so ONNX Runtime's CUDA and TensorRT providers could never
# load here: drop them (~270 MB). A model that asks for the GPU falls back to the CPU and says why.
RUN rm -f /app/libonnxruntime_providers_cuda.so /app/libonnxruntime_providers_tensorrt.so

# ---------------------------------------------------------------------------------------------
# Runtime: ASP.NET Core 10 runtime + python3 for the Python runner + tini as PID 1.
FROM --platform=linux/amd64 mcr.microsoft.com/dotnet/aspnet:${DOTNET_TAG} AS runtime

# python3: the Python runner (standard library only). tini: reaps orphaned processes that
# algorithms leave behind and forwards SIGTERM to the server, which stops gracefully.
# bubblewrap: the worker sandbox (/usr/bin/bwrap, see Sandbox below). python3-pip: builds install
# requirements.txt with the workers' interpreter (docs/builds.md).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip tini bubblewrap \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid (10001), the same in both images, so one volume works with either
# (Kubernetes: securityContext.runAsUser/fsGroup 10001).
RUN groupadd --system --gid 10001 osforai \
 && useradd --system --uid 10001 --gid osforai --home-dir /var/lib/osforai --no-create-home \
            --shell /usr/sbin/nologin osforai \
 && install -d -m 0700 -o osforai -g osforai /var/lib/osforai

COPY --from=build /app /app
RUN ln -s /app/osai /usr/local/bin/osai

# OSFORAI_HOME: all state (catalog, keys, data://, code cache) lives in the volume.
# OSFORAI_URL: `osai` run inside the container (kubectl exec ... osai keys create) talks to the
#   local server; the server.json it would read otherwise names the wildcard address 0.0.0.0.
# Sandbox=bubblewrap: every worker runs in its own bubblewrap sandbox (no capabilities, no network,
#   only the system folders, its runtime and its own build in sight; docs/security.md). Without it an
#   algorithm reads the admin key and the catalog. The server refuses to start when bubblewrap
#   cannot work (fails closed); bubblewrap needs unprivileged user namespaces, which the stacks'
#   pod security context allows (docs/deploy.md, "Worker sandbox"). Plain `docker run` needs
#   `--security-opt seccomp=unconfined --security-opt apparmor=unconfined` for the same reason.
# ASPNETCORE_HTTP_PORTS (set by the base image) is cleared: `osai serve` binds its own address.
ENV OSFORAI_HOME=/var/lib/osforai \
    OSFORAI_URL=http://127.0.0.1:8080 \
    HOME=/var/lib/osforai \
    DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    ASPNETCORE_HTTP_PORTS="" \
    OSForAI__Workers__Sandbox=bubblewrap \
    OSForAI__Workers__PythonPath=/usr/bin/python3 \
    OSForAI__Models__Device=cpu

VOLUME ["/var/lib/osforai"]
WORKDIR /var/lib/osforai
USER osforai:osforai
EXPOSE 8080

# For plain Docker/Compose. Kubernetes ignores HEALTHCHECK: the stacks probe GET /health with
# httpGet liveness/readiness probes instead. python3 is in the image (curl is not).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/bin/python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

# The entry point is `osai` and the default command `serve` on all interfaces: `docker run IMAGE`
# serves, `docker run IMAGE --help` prints the CLI's help, and a Kubernetes container's `args` (the
# stacks pass `serve --host 0.0.0.0 --port 8080 --home /var/lib/osforai`) replace CMD alone.
ENTRYPOINT ["/usr/bin/tini", "--", "/app/osai"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
