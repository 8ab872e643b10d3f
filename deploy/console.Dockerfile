# The console: the shared multi-stage build (deploy/Dockerfile) with its module selected.
# docker build -f deploy/console.Dockerfile -t qbo-bridge-console .
FROM python:3.11-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY services ./services
COPY sandbox ./sandbox
RUN uv sync --frozen --no-dev

FROM python:3.11-slim
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 QBB_HTTP_HOST=0.0.0.0
RUN useradd --system --uid 10001 --home /app qbb
WORKDIR /app
COPY --from=build --chown=qbb:qbb /app /app
USER qbb
ENV QBB_HTTP_PORT=8095
EXPOSE 8095
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:'+os.environ.get('QBB_HTTP_PORT','0')+'/healthz', timeout=2)"
STOPSIGNAL SIGTERM
CMD ["python", "-m", "services.console"]
