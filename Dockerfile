# Journey: the decision flow, with numba's JIT cache warmed at build time.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/app/.numba-cache \
    JOURNEY_METRICS_PORT=9464

WORKDIR /app
COPY pyproject.toml README.md ./
COPY features ./features
COPY engine ./engine
COPY flows ./flows
COPY bench ./bench
RUN pip install --no-cache-dir . \
    && python -c "from engine.kernels import warm_up; warm_up()"

RUN useradd --create-home journey && chown -R journey /app
USER journey
EXPOSE 9464
# Default: the embedded simulator. For Kafka: journey run --source kafka --brokers kafka:9092
ENTRYPOINT ["journey"]
CMD ["run", "--events", "0"]
