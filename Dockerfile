# One image for every Python component (unit, pump, writer, reader, verify).
FROM python:3.11-slim
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
ENV SPACEGRID_HTTP_HOST=0.0.0.0 SPACEGRID_CACHE_DIR=/tmp/spacegrid
ENTRYPOINT ["spacegrid"]
