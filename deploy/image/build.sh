#!/usr/bin/env bash
# Builds the clickfono-notifier image with whichever engine is here: docker (when its
# daemon answers), else podman, else buildah. `make image` runs this.
#
#   deploy/image/build.sh
#
# Environment:
#   IMAGE_ENGINE     docker, podman or buildah, instead of the first one found
#   IMAGE_NAME       default clickfono-notifier (tagged :latest and :inputs-<hash>)
#   PYTHON_IMAGE     the base; default python:3.12-slim-bookworm when it is present or can
#                    be pulled, else the Debian base that build-base.sh makes with debootstrap
#   IMAGE_CA_BUNDLE  CA bundle that pip trusts during the build (a build secret, not
#                    copied into the image); default $PIP_CERT, else the host's
#                    /etc/ssl/certs/ca-certificates.crt, so builds behind a TLS-intercepting
#                    proxy work
#
# The image is tagged with a hash of everything it is built from (the Dockerfile, the
# package, pyproject.toml, constraints.txt and the base's id): when that tag exists,
# nothing is built. Prints the image reference on stdout; the rest goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/../.."

say() { echo "image: $*" >&2; }
die() {
    echo "image: error: $*" >&2
    exit 1
}

engine=${IMAGE_ENGINE:-}
if [ -z "$engine" ]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        engine=docker
    elif command -v podman >/dev/null; then
        engine=podman
    elif command -v buildah >/dev/null; then
        engine=buildah
    else
        die "no container engine: install docker, podman or buildah (Debian: apt-get install podman)"
    fi
fi
command -v "$engine" >/dev/null || die "$engine not found"
name=${IMAGE_NAME:-clickfono-notifier}
case $engine in
    docker) ;;
    podman | buildah) case $name in */*) ;; *) name=localhost/$name ;; esac ;;
    *) die "unknown engine '$engine' (docker, podman or buildah)" ;;
esac

image_id() {
    case $engine in
        docker) docker image inspect --format '{{.Id}}' "$1" 2>/dev/null ;;
        podman) podman image inspect --format '{{.Id}}' "$1" 2>/dev/null ;;
        buildah) buildah inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null ;;
    esac
}

# Every repository:tag in the engine's storage.
image_tags() {
    case $engine in
        docker) docker image ls --format '{{.Repository}}:{{.Tag}}' ;;
        podman) podman images --format '{{.Repository}}:{{.Tag}}' ;;
        buildah) buildah images --format '{{.Name}}:{{.Tag}}' ;;
    esac
}

base=${PYTHON_IMAGE:-}
if [ -z "$base" ]; then
    base=python:3.12-slim-bookworm
    [ "$engine" = docker ] || base=docker.io/library/$base
    if [ -z "$(image_id "$base")" ] && ! "$engine" pull "$base" >&2; then
        say "$base cannot be pulled here: building a Debian base with debootstrap"
        base=$("$here/build-base.sh" "$engine")
    fi
fi
base_id=$(image_id "$base") || die "base image $base not found"

inputs=$(
    {
        echo "$base_id"
        find Dockerfile .dockerignore pyproject.toml constraints.txt README.md notifier \
            -type f ! -name '*.py[cod]' ! -path '*/__pycache__/*' | LC_ALL=C sort |
            xargs sha256sum
    } | sha256sum | cut -c1-16
)
ref=$name:inputs-$inputs
if [ -n "$(image_id "$ref")" ]; then
    say "cached: $ref (nothing changed since it was built)"
else
    say "building $ref with $engine from $base"
    ca=${IMAGE_CA_BUNDLE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}
    args=(--build-arg "PYTHON_IMAGE=$base" --tag "$ref")
    if [ -s "$ca" ]; then args+=(--secret "id=ca,src=$ca"); fi
    started=$SECONDS
    case $engine in
        docker) DOCKER_BUILDKIT=1 docker build "${args[@]}" . >&2 ;;
        # Docker format keeps the HEALTHCHECK (OCI has none); chroot isolation needs no
        # OCI runtime or cgroups, which containers and some VMs lack.
        podman) podman build --format docker --isolation "${BUILDAH_ISOLATION:-chroot}" \
            "${args[@]}" . >&2 ;;
        buildah) buildah bud --layers --format docker --isolation "${BUILDAH_ISOLATION:-chroot}" \
            "${args[@]}" . >&2 ;;
    esac
    say "built in $((SECONDS - started)) s"
    # Earlier input tags only hold disk space. Their untagged layers (the build cache) go
    # after a week.
    for tag in $(image_tags); do
        case $tag in "$name:inputs-"*) [ "$tag" = "$ref" ] || "$engine" rmi "$tag" >/dev/null 2>&1 || true ;; esac
    done
    # (buildah has no filtered prune: `buildah rmi --prune` would take everyone's cache.)
    case $engine in
        docker | podman) "$engine" image prune --force --filter until=168h \
            --filter label=org.opencontainers.image.title=clickfono-notifier >/dev/null || true ;;
    esac
fi
"$engine" tag "$ref" "$name:latest" >&2
case $engine in
    docker) size=$(docker image inspect --format '{{.Size}}' "$ref") ;;
    *) size=$(podman image inspect --format '{{.Size}}' "$ref" 2>/dev/null || true) ;;
esac
[ -z "$size" ] || say "size: $(awk -v b="$size" 'BEGIN { printf "%.0f MB", b / 1e6 }')"
echo "$ref"
