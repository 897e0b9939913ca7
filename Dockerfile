# Builds every obup binary; docker-compose.yml picks the one each service runs.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/obup /src/target/release/obup-package-store /src/target/release/obup-orchestrator /src/target/release/obup-gateway /usr/local/bin/
RUN mkdir -p /var/lib/obup && chown nobody /var/lib/obup
USER nobody
