# First version of the service image (the container issue hardens and exercises it).
# BASE_IMAGE may be any Debian-based image with python3 and its venv module.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /build
COPY requirements/runtime.txt requirements/runtime.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements/runtime.txt

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY schemas schemas
COPY model_store model_store
COPY service service
# Configured only through these variables (see the README's settings table). The model
# store is mounted at /models, read-only is enough.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    MODEL_STORE_DIR=/models \
    MODEL_VERSION=production
USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ['PORT'], timeout=4)"]
CMD ["python3", "-m", "service"]
