# syntax=docker/dockerfile:1
# The idp image: `idp serve` as a non-root user, configured by a mounted YAML file (IDP_CONFIG)
# and environment variables for its ${VAR}s. See README.md, "Production".
#
# Layout: the package loads templates/, static/ and migrations/ relative to the repository root
# (idp/web/templating.py, idp/store/migrate.py: Path(__file__).parents[2]), so the image keeps
# the repository layout under /app and installs the package in editable mode from there.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /app
# Dependencies first, as their own layer: it changes only when pyproject.toml does.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY idp/ idp/
RUN /opt/venv/bin/pip install --no-deps -e . \
 && /opt/venv/bin/python -m compileall -q /app/idp \
 && /opt/venv/bin/pip uninstall -y pip setuptools

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IDP_CONFIG=/etc/idp/idp.yaml
RUN groupadd --system --gid 10001 idp \
 && useradd --system --uid 10001 --gid idp --home-dir /app --no-create-home \
    --shell /usr/sbin/nologin idp
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/idp idp/
COPY templates/ templates/
COPY static/ static/
COPY migrations/ migrations/
# Only the embedded default (no IDP_CONFIG) writes here (SQLite); production uses PostgreSQL.
RUN install -d -o idp -g idp /app/data
USER 10001:10001
EXPOSE 8000
# No curl in the slim image: the interpreter checks /healthz (the process is alive).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["idp"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
