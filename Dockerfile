# The trailwarden controller image: built with the official Rust image, run on distroless
# (glibc and CA certificates, no shell), as the unprivileged user 65532.
#
# Multi-arch: `docker buildx build --platform linux/amd64,linux/arm64 .` (what
# .github/workflows/release.yml runs). Neither stage names a --platform, so BuildKit runs
# the build stage once per target platform, on that platform's variant of the Rust image:
# natively for the build machine's own architecture, under QEMU user-mode emulation
# (binfmt_misc, docker/setup-qemu-action) for the other. Nothing is cross-compiled: each
# image holds the binary that `cargo build --release --locked` makes on its own
# architecture, with that architecture's glibc, and no cross linker or sysroot is needed.
# The price is time: emulated, the arm64 build is several times slower than a native one
# (tens of minutes on a hosted runner, most of it compiling the AWS SDK). The faster
# alternative, cross-compiling, would put `--platform=$BUILDPLATFORM` on the build stage
# and hand cargo `--target aarch64-unknown-linux-gnu` (from $TARGETARCH) with a cross
# linker; giving the stage that --platform without the --target would silently put the
# build machine's binary into every image, which hack/release-check.sh refuses.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The commit built, for trailwarden_build_info{revision} (build.rs): the build context has
# no .git, so it comes as a build argument (release.yml: the commit's 12-character short
# hash, as build.rs takes it from git); empty, the binary says "unknown".
ARG GIT_REVISION=""
# The same command `make release` runs.
RUN cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/trailwarden /trailwarden
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/trailwarden"]
CMD ["run"]

# OCI image labels (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
# The release workflow sets VERSION (the tag without its "v"), REVISION (the commit) and
# CREATED (the commit's time, RFC 3339); a local build leaves them empty. Declared last, so
# a new revision never invalidates the cached layers above.
ARG VERSION=""
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="trailwarden" \
      org.opencontainers.image.description="Kubernetes controller that keeps AWS CloudTrail trails as a TrailPolicy declares" \
      org.opencontainers.image.source="https://github.com/trailwarden/trailwarden" \
      org.opencontainers.image.url="https://github.com/trailwarden/trailwarden" \
      org.opencontainers.image.documentation="https://github.com/trailwarden/trailwarden/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="trailwarden" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
