#!/usr/bin/env bash
# Build the Debian 12 systemd base image every lab host and Molecule scenario runs on.
# No registry is needed: debootstrap a rootfs and `docker import` it. The tag carries a hash of
# this recipe and the mirror, so the image is built once and rebuilt only when either changes.
# Prints the image reference on stdout; progress goes to stderr.
source "$(dirname "${BASH_SOURCE[0]}")/docker-engine.sh"

LAB_SUITE=bookworm
# openssh-server: lab inventories reach their hosts over SSH, as production does; it stays off
# (no host keys, unit disabled) until playbooks/lab.yml opens it on a host that asks for it.
LAB_PACKAGES=systemd,systemd-sysv,python3,python3-apt,sudo,iproute2,procps,ca-certificates,cron,openssh-server

host_mirror() {
  # First Debian archive URI of the host's apt sources (deb822 or one-line format).
  local uri
  uri="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '{print $2}' | grep -vE 'security|updates' | head -n1 || true)"
  if [ -z "$uri" ]; then
    uri="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$2 !~ /^\[/ {print $2} $2 ~ /^\[/ {print $3}' | grep -vE 'security' | grep -i debian |
      head -n1 || true)"
  fi
  printf '%s' "$uri"
}

lab_image() {
  local mirror="${MATCHBOT_DEBIAN_MIRROR:-$(host_mirror)}"
  [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt sources; set MATCHBOT_DEBIAN_MIRROR"
  local recipe
  recipe="$( (cat "${BASH_SOURCE[0]}"; echo "$mirror") | sha256sum | cut -c1-12)"
  local tag="$MATCHBOT_IMAGE_REPO:$recipe"

  ensure_docker_engine
  if docker image inspect "$tag" >/dev/null 2>&1; then
    say "Lab base image $tag is cached"
  else
    apt_install debootstrap
    LAB_ROOTFS="$(mktemp -d /var/tmp/matchbot-rootfs.XXXXXX)"
    trap 'rm -rf "$LAB_ROOTFS"' EXIT
    local rootfs="$LAB_ROOTFS"
    say "Building lab base image $tag from $mirror (debootstrap, about a minute)"
    debootstrap --variant=minbase --include="$LAB_PACKAGES" "$LAB_SUITE" "$rootfs" "$mirror" >&2
    # Same mirror inside the hosts, plus updates; hosts reach it over plain http.
    printf 'deb %s %s main\ndeb %s %s-updates main\n' \
      "$mirror" "$LAB_SUITE" "$mirror" "$LAB_SUITE" >"$rootfs/etc/apt/sources.list"
    # Each container gets its own machine id at boot; no getty on a console nobody reads.
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs"/etc/systemd/system/getty.target.wants/*
    # No SSH until a host is given its own keys: a host key baked into the image would be
    # shared by every host made from it.
    chroot "$rootfs" systemctl disable ssh.service >&2
    rm -f "$rootfs"/etc/ssh/ssh_host_*
    # No package lists in the image: the first apt run on a host must update them.
    rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    # Ansible's apt cache_valid_time reads the lists folder's mtime: make it look stale.
    touch -d @0 "$rootfs/var/lib/apt/lists"
    say "Importing rootfs into Docker"
    tar -C "$rootfs" -c . | docker import \
      -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
      -c "LABEL org.matchbot.recipe=$recipe" - "$tag" >/dev/null
    rm -rf "$LAB_ROOTFS"
    trap - EXIT
  fi
  docker tag "$tag" "$MATCHBOT_IMAGE_REPO:latest"
  printf '%s\n' "$tag"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  lab_image
fi
