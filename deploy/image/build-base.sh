#!/usr/bin/env bash
# A Debian bookworm base image with Debian's python3 and its venv module, made from
# Debian's packages with debootstrap, for machines that reach Debian's archive but no
# container registry (python:3.12-slim-bookworm cannot be pulled there).
#
#   deploy/image/build-base.sh [podman|buildah|docker]
#
# Prints the image reference on stdout (everything else goes to stderr); pass it to the
# Dockerfile as --build-arg PYTHON_IMAGE=<ref>. `make image` does all of this by itself.
# Needs root and debootstrap (Debian: apt-get install debootstrap); exits 3 without them.
#
# Cached on this machine, so only the first run pays for debootstrap (about a minute):
# the root file system as a tar file in $CLICKFONO_IMAGE_CACHE (default
# ~/.cache/clickfono-notifier/image), and the image in the engine's storage, both keyed
# by a hash of the recipe (make_rootfs, the packages and the mirrors). The tar file is
# made again when it is older than $BASE_MAX_AGE_DAYS (default 30) days, so the base
# picks up Debian's security updates.
set -euo pipefail

engine=${1:-${IMAGE_ENGINE:-podman}}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
if [ -n "${CLICKFONO_IMAGE_CACHE:-}" ]; then
    cache=$CLICKFONO_IMAGE_CACHE
elif [ -n "${XDG_CACHE_HOME:-}${HOME:-}" ]; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/clickfono-notifier/image
else
    cache=/var/cache/clickfono-notifier/image
fi
max_age_days=${BASE_MAX_AGE_DAYS:-30}
# Not python3-pip: the Dockerfile's pip comes from a venv (python3-venv's bundled wheel),
# and Debian's pip with its setuptools would add 25 MB to every image.
packages=python3,python3-venv,python-is-python3,ca-certificates

say() { echo "build-base: $*" >&2; }
die() {
    echo "build-base: error: $*" >&2
    exit 1
}
# Exit status 3: this machine cannot make the base (the image tests skip on it).
cannot() {
    echo "build-base: error: $*" >&2
    exit 3
}

image_exists() {
    case $engine in
        docker) docker image inspect "$ref" >/dev/null 2>&1 ;;
        *) "$engine" inspect --type image "$ref" >/dev/null 2>&1 ;;
    esac
}

make_rootfs() {
    [ "$(id -u)" = 0 ] || cannot "no registry image, and debootstrap needs root: run as root or pass PYTHON_IMAGE"
    command -v debootstrap >/dev/null || cannot "no registry image, and debootstrap is not installed: apt-get install debootstrap"
    mkdir -p "$cache"
    local work
    work=$(mktemp -d "$cache/rootfs.XXXXXX")
    # A failed run leaves no half-made root file system behind.
    trap 'rm -rf "$work"' EXIT
    local root=$work/rootfs
    say "debootstrap bookworm into $root (about a minute)"
    debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >&2
    cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security_mirror bookworm-security main
EOF
    # Later installs (the Dockerfile's redis-server) leave no documentation, as in
    # Debian's official slim images.
    cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
    say "security and stable updates"
    chroot "$root" apt-get update -qq >&2
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >&2
    chroot "$root" apt-get clean
    # What an image does not need (about 140 MB of the 300 MB): package lists, downloaded
    # packages, docs but copyrights, man pages, translations, logs, this host's identity.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/* \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
        "$root"/usr/share/lintian/* "$root"/tmp/* "$root"/root/.cache
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
    : >"$root/etc/machine-id"
    tar --numeric-owner --xattrs -C "$root" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$work"
    trap - EXIT
    say "root file system: $tarball ($(du -h "$tarball" | cut -f1))"
}

# The key: what the base is made of (the function above, without its comments, and the
# packages and mirrors), so that editing the rest of this script does not remake it.
key=$(printf '%s\n' "$(declare -f make_rootfs)" "$packages" "$mirror" "$security_mirror" |
    sha256sum | cut -c1-12)
ref=localhost/clickfono-python-base:bookworm-$key
tarball=$cache/python-base-bookworm-$key.tar

import_image() {
    say "importing into $engine as $ref"
    local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]')
    case $engine in
        podman | docker) "$engine" import "${changes[@]}" "$tarball" "$ref" >&2 ;;
        buildah)
            local ctr
            ctr=$(buildah from scratch)
            buildah add "$ctr" "$tarball" / >&2
            buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                --env LANG=C.UTF-8 --cmd python3 "$ctr"
            buildah commit --rm "$ctr" "$ref" >&2
            ;;
        *) die "unknown engine '$engine' (podman, buildah or docker)" ;;
    esac
}

# Bases made by earlier versions of this script.
remove_old() {
    find "$cache" -maxdepth 1 -name 'python-base-bookworm-*.tar' ! -name "${tarball##*/}" -delete 2>/dev/null || true
    local tags
    case $engine in
        docker) tags=$(docker image ls --format '{{.Repository}}:{{.Tag}}') ;;
        podman) tags=$(podman images --format '{{.Repository}}:{{.Tag}}') ;;
        buildah) tags=$(buildah images --format '{{.Name}}:{{.Tag}}') ;;
    esac
    for tag in $tags; do
        case $tag in
            "$ref") ;;
            localhost/clickfono-python-base:bookworm-*) "$engine" rmi "$tag" >/dev/null 2>&1 || true ;;
        esac
    done
}

if [ -f "$tarball" ] && [ -n "$(find "$tarball" -mtime +"$max_age_days")" ]; then
    say "$tarball is older than $max_age_days days: making it again"
    rm -f "$tarball"
fi
if [ ! -f "$tarball" ]; then
    make_rootfs
    import_image
    remove_old
elif ! image_exists; then
    import_image
    remove_old
else
    say "cached: $ref"
fi
echo "$ref"
