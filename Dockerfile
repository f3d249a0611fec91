# listci's own image: Node 20, git, the CLI as entrypoint, running as a non-root user.
# Builds run in sibling containers through the host's engine socket, mounted in:
#   podman run -v /run/podman/podman.sock:/run/podman/podman.sock \
#     -v /srv/listci:/var/lib/listci -e LISTCI_IMAP_PASSWORD ... listci daemon -c /var/lib/listci/listci.yaml
# (Docker: -v /var/run/docker.sock:/var/run/docker.sock and build.runner: docker.)
# The build dirs under workDir must be reachable at the same path by the engine,
# so mount workDir at the same path inside and outside.
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/listci
COPY package.json package-lock.json ./
# Behind a TLS-intercepting proxy, pass its CA as a build secret:
#   podman build --secret id=npm_ca,src=/path/to/ca.pem ...
RUN --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi; \
    npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY config ./config

RUN useradd --create-home --home-dir /var/lib/listci --uid 10001 listci
USER listci
WORKDIR /var/lib/listci
ENV NODE_ENV=production
ENTRYPOINT ["node", "/opt/listci/bin/listci.js"]
CMD ["daemon"]
