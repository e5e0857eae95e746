#!/usr/bin/env bash
# Pushes this commit's images to a stack's own registry, then points the stack's image keys at them
# (.github/workflows/stacks.yml, the dev and prod jobs; docs/deploy-images.md).
#
#   push-stack-images.sh <cloud> <stack> <tag>
#
# Runs in the stack's project folder (stacks/<cloud>), with the cloud's CLI logged in and the Pulumi CLI set up.
# IMAGES_DIR holds the images job's docker archives: <image>.tar holding osforai-<image>:<tag>.
#
# Where: the stack's `registry` output, from its last update; on the stack's first deployment there is none yet, so
# the registry (and only what it needs: `osforai-stacks targets`) is created first with a targeted update, since a
# whole update would wait for a runtime whose image is not there yet.
# Login: the cloud's own (an ECR token, az acr login, gcloud's docker credential helper). A stack whose `registry` key
# names a registry on the host in IMAGE_REGISTRY logs in there with IMAGE_REGISTRY_USERNAME/IMAGE_REGISTRY_PASSWORD.
# Keys: runtimeImage, workerPythonImage, and workerGpuImage only where the program declares it; on AWS each is a tag
# of the stack's ECR repository for it (outputs runtimeRepository, ...), elsewhere a name relative to the registry.
set -euo pipefail

if [ "$#" -ne 3 ]; then
  echo "usage: push-stack-images.sh <cloud> <stack> <tag>" >&2
  exit 2
fi
cloud="$1" stack="$2" tag="$3"
images_dir="${IMAGES_DIR:?set IMAGES_DIR to the folder of the image archives from the images job}"
# The synthesizer; the tests point STACKS_CLI at a built one.
read -r -a stacks_cli <<< "${STACKS_CLI:-dotnet run --project ../OSForAI.Stacks --}"

images=(runtime worker-python)
keys=(runtimeImage workerPythonImage)
repositories=(runtimeRepository workerPythonRepository)
if "${stacks_cli[@]}" synth "$cloud" | grep -qE '^  workerGpuImage:'; then
  images+=(worker-gpu)
  keys+=(workerGpuImage)
  repositories+=(workerGpuRepository)
fi
outputs=(registry)
if [ "$cloud" = aws ]; then outputs+=("${repositories[@]}"); fi

output() { pulumi stack output "$1" --stack "$stack" 2>/dev/null || true; }

registry="$(output registry)"
if [ -z "$registry" ]; then
  echo "the $stack stack has no registry output yet (its first deployment): creating the registry alone first"
  selection=()
  for name in "${outputs[@]}"; do selection+=(--output "$name"); done
  targets=()
  while IFS= read -r urn; do targets+=(--target "$urn"); done < <("${stacks_cli[@]}" targets "$cloud" --stack "$stack" "${selection[@]}" | grep '^urn:')
  pulumi up --stack "$stack" --yes "${targets[@]}"
  registry="$(output registry)"
  if [ -z "$registry" ]; then
    echo "::error::the $stack stack still has no registry output after creating it; run its first pulumi up by hand (docs/deploy.md)" >&2
    exit 1
  fi
fi
host="${registry%%/*}"

if [ -n "${IMAGE_REGISTRY:-}" ] && [ "$host" = "${IMAGE_REGISTRY%%/*}" ]; then
  printf '%s' "${IMAGE_REGISTRY_PASSWORD:?the registry is IMAGE_REGISTRY: set the secret IMAGE_REGISTRY_PASSWORD}" |
    docker login "$host" --username "${IMAGE_REGISTRY_USERNAME:?the registry is IMAGE_REGISTRY: set the secret IMAGE_REGISTRY_USERNAME}" --password-stdin
else
  case "$cloud" in
    aws) aws ecr get-login-password | docker login "$host" --username AWS --password-stdin ;;
    azure) az acr login --name "${host%%.*}" ;;
    gcp) gcloud auth configure-docker "$host" --quiet ;;
    *) echo "::error::no registry login for cloud '$cloud'" >&2; exit 1 ;;
  esac
fi

values=()
for i in "${!images[@]}"; do
  name="osforai-${images[$i]}"
  if [ "$cloud" = aws ]; then
    repository="$(output "${repositories[$i]}")"
    if [ -z "$repository" ]; then
      echo "::error::the $stack stack has no ${repositories[$i]} output" >&2
      exit 1
    fi
    values+=("$tag")
  else
    repository="$registry/$name"
    values+=("$name:$tag")
  fi
  docker load --input "$images_dir/${images[$i]}.tar"
  docker tag "$name:$tag" "$repository:$tag"
  docker push "$repository:$tag"
done
# Only once every image is in the registry.
for i in "${!keys[@]}"; do
  pulumi config set "${keys[$i]}" "${values[$i]}" --stack "$stack"
  echo "$stack: ${keys[$i]} = ${values[$i]}"
done
