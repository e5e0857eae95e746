# syntax=docker/dockerfile:1
#
# OSForAI GPU image: the same server and workers as deploy/docker/runtime.Dockerfile, on NVIDIA's
# CUDA 13 + cuDNN 9 runtime, so ONNX models run on the GPU through ONNX Runtime's CUDA provider.
#
#   docker build -f deploy/docker/worker-gpu.Dockerfile -t osforai/worker-gpu:dev .
#   docker run --gpus all -p 8080:8080 -v osforai:/var/lib/osforai osforai/worker-gpu:dev
#
# Which image runs where (Pulumi config of the stacks in stacks/<cloud> and the root Pulumi.yaml; the
# CI workflow sets them to the images it built; the gateway's Kubernetes worker host runs onnx worker
# pods from workerGpuImage, and Python worker pods from workerPythonImage, worker-python.Dockerfile):
#   runtimeImage   (runtime.Dockerfile)    the system/CPU node pool: the gateway Deployment behind
#                                          the public endpoint, Python algorithms, models on the CPU.
#   workerGpuImage (this file)             the GPU node pool (scales from zero; GPU label and
#                                          nvidia.com/gpu NoSchedule taint): pods that request
#                                          nvidia.com/gpu and tolerate the taint, models on CUDA.
# Workers are child processes of `osai serve`, so this image is a whole server too; it only adds
# the CUDA libraries, and it is several GB larger, which is why CPU pods use the other one.
#
# linux/amd64 only, like runtime.Dockerfile (ONNX Runtime's CUDA build is x64-only).
#
# The GPU node needs an NVIDIA driver for CUDA 13 (R580 or newer) and the NVIDIA device plugin or
# the cloud's equivalent; the container runtime mounts the driver (libcuda) into the pod.

ARG DOTNET_TAG=10.0-noble
# CUDA 13.0 + cuDNN 9 runtime on Ubuntu 24.04, the distro of the .NET 10 images. Check the tag
# against the registry (nvidia/cuda on Docker Hub, also nvcr.io/nvidia/cuda) before relying on it:
# any 13.x "-cudnn-runtime-ubuntu24.04" tag suits ONNX Runtime 1.31's CUDA 13 build.
ARG CUDA_TAG=13.0.2-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------
# Build: identical to runtime.Dockerfile's build stage (see the comments there), except that the
# CUDA provider libraries stay.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:${DOTNET_TAG} AS build
WORKDIR /src
COPY Directory.Build.props ./
COPY runtime/ runtime/
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
 && test -f /app/libonnxruntime_providers_cuda.so \
 && test -f /app/runners/python/osai_runner.py

# ---------------------------------------------------------------------------------------------
# The ASP.NET Core 10 runtime is taken from Microsoft's image (same Ubuntu 24.04 userland) rather
# than installed from a package feed, so both images run the very same runtime build.
FROM --platform=linux/amd64 mcr.microsoft.com/dotnet/aspnet:${DOTNET_TAG} AS dotnet

# ---------------------------------------------------------------------------------------------
FROM --platform=linux/amd64 nvidia/cuda:${CUDA_TAG} AS runtime

# The native libraries .NET needs on Ubuntu 24.04 (the list of Microsoft's runtime-deps image,
# without ICU: the projects use invariant globalization), python3 for the Python runner, tini as PID 1,
# bubblewrap for the worker sandbox (as in runtime.Dockerfile).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libc6 libgcc-s1 libssl3t64 libstdc++6 tzdata zlib1g python3 tini bubblewrap \
 && rm -rf /var/lib/apt/lists/*

COPY --from=dotnet /usr/share/dotnet /usr/share/dotnet
RUN ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet

RUN groupadd --system --gid 10001 osforai \
 && useradd --system --uid 10001 --gid osforai --home-dir /var/lib/osforai --no-create-home \
            --shell /usr/sbin/nologin osforai \
 && install -d -m 0700 -o osforai -g osforai /var/lib/osforai

COPY --from=build /app /app
RUN ln -s /app/osai /usr/local/bin/osai

# As in runtime.Dockerfile, plus Models:Device=gpu: models whose manifest says `device: auto` run on
# CUDA (and fall back to the CPU, saying why, if the pod has no usable GPU). The base image's
# LD_LIBRARY_PATH (/usr/local/nvidia/lib64, where GKE mounts the driver) and NVIDIA_* variables are
# kept; the server passes LD_LIBRARY_PATH and CUDA_VISIBLE_DEVICES on to the model workers.
# OSAI_DEVICE=cuda: the model worker's own device setting, for when this image runs as an onnx worker pod of the Kubernetes
# worker host (stacks config workerGpuImage) and the host does not set it. The gateway pod (runtime image) stays on the CPU.
ENV OSFORAI_HOME=/var/lib/osforai \
    OSFORAI_URL=http://127.0.0.1:8080 \
    HOME=/var/lib/osforai \
    DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_RUNNING_IN_CONTAINER=true \
    OSForAI__Workers__Sandbox=bubblewrap \
    OSForAI__Workers__PythonPath=/usr/bin/python3 \
    OSForAI__Models__Device=gpu \
    OSAI_DEVICE=cuda

VOLUME ["/var/lib/osforai"]
WORKDIR /var/lib/osforai
USER osforai:osforai
EXPOSE 8080

# For plain Docker; Kubernetes uses the stacks' httpGet probes on /health instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/bin/python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]

# Replaces the CUDA image's own entrypoint script. Entry point `osai`, default command `serve`, as in
# runtime.Dockerfile (Kubernetes `args` replace CMD).
ENTRYPOINT ["/usr/bin/tini", "--", "/app/osai"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
