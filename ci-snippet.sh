# Proposed addition to .ci/run, before `exec bash scripts/test.sh`.
#
# configs/dockertest (the Docker image on a real engine) and the mDNS
# namespace test in cmd/quarryd need root, a container engine, debootstrap
# and iproute2. CI starts from a machine with only Go, so it installs them
# here; `go test ./...` in scripts/test.sh then runs both tests (without
# these packages they skip themselves with a message). The Docker test
# starts and stops its own dockerd; nothing here starts a service.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing docker.io, docker-compose, debootstrap, iproute2 (Docker and LAN discovery tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # With recommends, as tested (docker.io recommends cgroupfs-mount, ...).
  apt-get install -y -qq \
    docker.io docker-compose debootstrap debian-archive-keyring iproute2 ca-certificates >/dev/null
fi
