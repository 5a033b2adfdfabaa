# The trailwarden controller image: built with the official Rust image, run on distroless
# (glibc and CA certificates, no shell), as the unprivileged user 65532.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The same command `make release` runs.
RUN cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/trailwarden /trailwarden
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/trailwarden"]
CMD ["run"]
