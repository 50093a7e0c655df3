#!/bin/sh
# Build the harness image with buildah, on a Debian base made here from Debian packages (debootstrap), so
# that no image registry is needed. Root (or buildah unshare). Then:
#   podman run --rm localhost/sso-resilience-harness:latest scenarios
# and, for a cluster, push or load the image where its nodes find it (README "Running on Kubernetes").
set -eu
cd "$(dirname "$0")/../.."
BASE=${BASE:-localhost/debian-bookworm:minbase}
IMAGE=${IMAGE:-localhost/sso-resilience-harness:latest}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "build.sh: needs $tool (apt-get install -y buildah debootstrap)" >&2; exit 2; }
done
if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$rootfs" /
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE"
fi
# chroot isolation: RUN steps need no OCI runtime or cgroup controllers (neither works inside many CI
# machines and containers); BUILDAH_ISOLATION=oci where the runtime works
# behind a TLS-intercepting egress proxy pip needs its CA: CA_BUNDLE (default: pip's own $PIP_CERT) is
# mounted for the install step only, never copied into the image
ca=${CA_BUNDLE:-${PIP_CERT:-}}
set --
if [ -n "$ca" ] && [ -f "$ca" ]; then
  set -- --volume "$ca:/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt
fi
buildah build --isolation "${BUILDAH_ISOLATION:-chroot}" --layers -f deploy/container/Containerfile \
  --build-arg BASE="$BASE" "$@" -t "$IMAGE" .
echo "build.sh: built $IMAGE on $BASE"
