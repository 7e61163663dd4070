# syntax=docker/dockerfile:1
# clickfono-notifier: build a wheel, install it into a venv in a slim runtime image.
#   docker build -t clickfono-notifier .
#   docker run --env-file deploy/.env -p 8080:8080 clickfono-notifier
# Configuration is environment variables only (see deploy/.env.example).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: the wheel (hatchling is fetched by pip's isolated build) -----------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY notifier ./notifier
RUN pip wheel --no-deps --wheel-dir /dist .

# --- runtime: the venv, no compilers, no build tools, not root ------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir /dist/*.whl \
    && groupadd --system --gid 10001 notifier \
    && useradd --system --uid 10001 --gid notifier --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin notifier
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# /healthz on NOTIFIER_HTTP_PORT (default 8080); passes when the server is disabled (0).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; p = os.environ.get('NOTIFIER_HTTP_PORT') or '8080'; p == '0' or u.urlopen('http://127.0.0.1:' + p + '/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["clickfono-notifier", "run"]
