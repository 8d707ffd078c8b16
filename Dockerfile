# syntax=docker/dockerfile:1
# Multi-stage: build a wheel with the toolchain, run it in a slim image as a non-root user.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY gateway ./gateway
COPY protocols ./protocols
COPY adapters ./adapters
COPY config ./config
RUN python -m pip install --no-cache-dir --upgrade pip \
 && python -m pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim AS runtime
RUN groupadd --system interlend \
 && useradd --system --gid interlend --home-dir /var/lib/interlend --create-home interlend
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER interlend
WORKDIR /var/lib/interlend
# SIP2 (6001), NCIP (8080) and admin HTTP (9090); mount the configuration at /etc/interlend.
EXPOSE 6001 8080 9090
ENTRYPOINT ["interlend"]
CMD ["serve", "--config", "/etc/interlend/interlend.toml"]
