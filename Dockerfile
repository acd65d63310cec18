# One image for every Python component (unit, pump, writer, reader, verify).
# Pinned base (a patch release on a named Debian): rebuilds get the same interpreter.
FROM python:3.11.9-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends freetds-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY setup.cfg pyproject.toml README.md constraints.txt ./
COPY grid_config grid_config
COPY processing_unit processing_unit
COPY data_pump data_pump
COPY data_writer data_writer
COPY data_reader data_reader
COPY service_kit service_kit
COPY spacegrid spacegrid
RUN pip install --no-cache-dir -c constraints.txt .
USER nobody
# every process of this image serves on 8080 (its own container), so one HEALTHCHECK fits all
ENV SPACEGRID_HTTP_HOST=0.0.0.0 SPACEGRID_HTTP_PORT=8080 SPACEGRID_CACHE_DIR=/tmp/spacegrid
# Units, pumps and writers all answer GET /health/ready on SPACEGRID_HTTP_PORT (200 = ready).
# The slim image has no curl: ask with the interpreter it has.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ['SPACEGRID_HTTP_PORT'], timeout=2)"]
ENTRYPOINT ["spacegrid"]
