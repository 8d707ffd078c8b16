# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with the toolchain, run it in a slim image as a non-root user.
# The base image is pinned to an exact Python release and Debian suite (bump both stages
# together); tests/test_container.py checks the pin, the user, the health check and the
# ports, and runs hadolint on this file.

FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY gateway ./gateway
COPY protocols ./protocols
COPY adapters ./adapters
COPY config ./config
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 interlend \
 && useradd --system --uid 10001 --gid interlend --home-dir /var/lib/interlend --create-home interlend
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
# Inside a container the listeners must bind every interface: INTERLEND_LISTEN_HOST
# overrides the host of every SIP2 listener and of the NCIP listener in the mounted
# file. The admin port stays on loopback unless INTERLEND_ADMIN_HOST is set as well,
# which needs bearer tokens in [gateway.admin] (see docs/operations.md).
ENV INTERLEND_LISTEN_HOST=0.0.0.0 \
    INTERLEND_HEALTH_URL=http://127.0.0.1:9090/healthz \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /var/lib/interlend
# SIP2 (6001), NCIP (8080) and admin HTTP (9090): the configuration's default ports.
# Mount the configuration at /etc/interlend.
EXPOSE 6001 8080 9090
# /healthz answers without a token, on loopback inside the container; python is in the
# image and curl is not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(os.environ['INTERLEND_HEALTH_URL'], timeout=4).status == 200 else 1)"]
ENTRYPOINT ["interlend"]
CMD ["serve", "--config", "/etc/interlend/interlend.toml"]
