# The service image. BASE_IMAGE may be any Debian-based image with python3 and its venv
# module (a mirror or a hardened internal base): only `python3 -m venv` is used.
ARG BASE_IMAGE=python:3.12-slim

# -- build: a virtualenv with the locked serving group only (hashes checked): no
# scikit-learn, scipy, pandas or joblib; the service reads compiled models and manifests.
# Removed after installing: test suites, pip and setuptools, and onnxruntime's C API
# library (35 MB), which is for native programs: the Python binding carries its own copy
# of the runtime and never loads it (checked by importing onnxruntime here).
FROM ${BASE_IMAGE} AS build
WORKDIR /build
COPY requirements/serve.txt requirements/serve.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/python -m pip install --no-cache-dir --require-hashes -r requirements/serve.txt \
    && site=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
    && rm -rf "$site"/numpy/*/tests "$site"/numpy/tests "$site"/onnxruntime/tools \
        "$site"/onnxruntime/transformers "$site"/pip "$site"/setuptools \
        "$site"/sqlalchemy/testing "$site"/alembic/testing \
        "$site"/onnxruntime/capi/libonnxruntime.so.* \
    && /opt/venv/bin/python -c "import onnxruntime" \
    && find /opt/venv -name '__pycache__' -type d -prune -exec rm -rf {} +

# -- runtime: the venv, the code the service imports, the baked model store ---------------
FROM ${BASE_IMAGE}
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY schemas schemas
# model_store/ includes _treeshap.so, the TreeSHAP kernel `make` compiles from
# treeshap.c (plain C, libc only): no compiler in the image. Refuse to build without it.
COPY model_store model_store
RUN python3 -c "import ctypes; ctypes.CDLL('/app/model_store/_treeshap.so')"
COPY service service
# `make docker` stages one model version here, serving artifacts only (manifest and
# compiled model, no pickle); mount a store at /models to override.
COPY deploy/model-store /models
# The decision log's default home: an SQLite file on a volume the service user owns (the
# root filesystem may be read-only). With more than one container, point DECISION_LOG_URL
# at PostgreSQL instead, so that every decision lands in one log.
RUN mkdir -p /var/lib/credit-default && chown 10001:10001 /var/lib/credit-default
VOLUME /var/lib/credit-default
# Configured only through these variables (docs/settings.md); logs go to stdout.
# The image refuses to start without API_KEYS unless ALLOW_ANONYMOUS=true is set.
# (DL3064 flags REQUIRE_API_KEYS by its name; it is a switch, not a secret.)
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    MODEL_STORE_DIR=/models \
    MODEL_VERSION=production \
    DECISION_LOG_URL=sqlite:////var/lib/credit-default/decisions.sqlite3 \
    WORKERS=1 \
    LOG_FORMAT=json \
    REQUIRE_API_KEYS=true
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('PORT', '8000'), timeout=2)"]
CMD ["python3", "-m", "service"]
