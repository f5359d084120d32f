// Package dockertest holds the test of the repository's Dockerfile on a
// real container engine. It has no code outside its tests.
//
// TestDockerImage starts a private dockerd (its own data root, exec root,
// socket and bridge; no iptables rules, no IP forwarding), makes the two
// base images the Dockerfile names without a registry, builds the
// unmodified Dockerfile, runs the image with its default command, checks
// the health check, JSON-RPC and the metrics page from the host through
// the published ports, and stops the container with SIGTERM, which must
// end quarryd with exit status 0.
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
// root, so the bases and the module download layer survive between runs.
// A lock file there serialises concurrent runs.
//
// The test needs root, dockerd (Debian: docker.io), debootstrap and ip
// (iproute2); without them it is skipped with a message saying what is
// missing. It is skipped with -short.
package dockertest
