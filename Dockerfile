# The worker image used by docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY connectors ./connectors
RUN pip install --no-cache-dir .
USER nobody
ENV CDC_DATA_DIR=/tmp/cdc-worker
CMD ["cdc-replicator", "worker"]
