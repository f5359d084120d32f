// Package dockertest holds the test of the repository's Dockerfile on a
// real container engine. It has no code outside its tests.
//
// TestDockerImage starts a private dockerd (its own data root, exec root,
// socket and bridge; no iptables rules, no IP forwarding), makes the two
// base images the Dockerfile names without a registry, builds the
// unmodified Dockerfile, runs the image with its default command, checks
// the health check, JSON-RPC and the metrics page from the host through
// the published ports, and stops the container with SIGTERM, which must
// end quarryd with exit status 0; a restart from the volume must keep the
// node's peer ID. It then runs the compose file's identities command as
// the compose file does and, where docker-compose is installed, the
// compose devnet's four nodes on the same image (healthy, fully
// connected), and takes them down.
//
// The bases stand in for the registry images of the same names:
//
//   - the build stage's golang image is a Debian minbase made by
//     debootstrap, with the Go toolchain that runs the test copied to
//     /usr/local/go (GOTOOLCHAIN=local, GOPATH=/go, as in the official
//     image);
//   - the runtime stage's distroless nonroot image is a from-scratch image
//     with /etc/passwd and /etc/group naming root, nobody and nonroot
//     (uid 65532, home /home/nonroot) and a /tmp.
//
// The build reaches the Go module proxy through the host's network (the
// build runs with --network host); the container runs on the private
// bridge with its ports published on 127.0.0.1.
//
// Everything expensive is cached in $QUARRY_DOCKER_CACHE (default
// ~/.cache/quarry-docker): the debootstrap tarball and the engine's data
// root, so the bases and the build stage's layers (tagged, so that the
// prune of dangling images keeps them) survive between runs; an unchanged
// tree builds in about a second. A lock file there serialises concurrent
// runs.
//
// The test needs root, dockerd (Debian: docker.io), debootstrap and ip
// (iproute2); without them it is skipped with a message saying what is
// missing. It is skipped with -short.
package dockertest
