# The Throughcare service. One image; docker-compose.yml runs several replicas.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /srv/throughcare --uid 10001 throughcare
WORKDIR /srv/throughcare
COPY pyproject.toml README.md ./
COPY core core
COPY audit audit
COPY scheduling scheduling
COPY campus campus
COPY signalling signalling
COPY media media
COPY web web
RUN pip install --no-cache-dir . \
    && mkdir -p /keys /srv/throughcare/var \
    && chown throughcare /keys /srv/throughcare/var \
    && chmod 700 /keys
# A new named volume mounted on /keys starts as this directory: the service's, owner-only.
USER throughcare
EXPOSE 8080
CMD ["throughcare", "serve", "--host", "0.0.0.0"]
