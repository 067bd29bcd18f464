# The Throughcare service. One image; docker-compose.yml runs several replicas.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /srv/throughcare --uid 10001 throughcare
WORKDIR /srv/throughcare
COPY pyproject.toml README.md ./
# Every package pyproject.toml installs (tests/test_deployment.py compares the two).
COPY core core
COPY audit audit
COPY scheduling scheduling
COPY kiosk kiosk
COPY campus campus
COPY interventions interventions
COPY signalling signalling
COPY media media
COPY web web
RUN pip install --no-cache-dir . \
    && mkdir -p /keys /checkpoints /srv/throughcare/var \
    && chown throughcare /keys /checkpoints /srv/throughcare/var \
    && chmod 700 /keys
# A new named volume mounted on /keys or /checkpoints starts as that directory here: the
# service's (owner-only for the keys), so the service, which does not run as root, can write it.
USER throughcare
EXPOSE 8080
CMD ["throughcare", "serve", "--host", "0.0.0.0"]
