# The QuickBooks Online emulator. docker build -f deploy/sandbox.Dockerfile -t qbo-bridge-sandbox .
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
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --home /app qbb
WORKDIR /app
COPY --from=build --chown=qbb:qbb /app /app
USER qbb
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/.well-known/openid_configuration', timeout=2)"
STOPSIGNAL SIGTERM
CMD ["python", "-m", "sandbox", "--host", "0.0.0.0", "--port", "8090"]
