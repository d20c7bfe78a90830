# syntax=docker/dockerfile:1
# The idp image: `idp serve` as a non-root user, configured by a mounted YAML file (IDP_CONFIG)
# and environment variables for its ${VAR}s. See README.md, "Production".
#
# Layout: the `build` stage turns a copy of the source into a wheel, with the build backend
# (setuptools) taken from the lock and hash-checked, and no build isolation (nothing is fetched
# that the lock does not name). The wheel is self-contained: templates, static files and
# migrations are inside the package (pyproject.toml). The `runtime` stage installs exactly the
# locked runtime set (requirements/runtime.txt, --require-hashes) and then that wheel without
# dependencies into a venv, and removes pip and setuptools from it. No source folder is copied
# into the runtime stage: the lock file and the wheel are bind-mounted for the one RUN that
# installs them. Refresh the lock with scripts/lock (README.md, "Dependencies").

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The build backend first, as its own layer: only the setuptools entry of the runtime lock.
COPY requirements/runtime.txt requirements/runtime.txt
RUN python -m venv /opt/build \
 && sed -n '/^setuptools==/,/^ *# via/p' requirements/runtime.txt > /tmp/build-requirements.txt \
 && grep -q '^setuptools==' /tmp/build-requirements.txt \
 && /opt/build/bin/pip install --require-hashes --no-deps -r /tmp/build-requirements.txt
COPY pyproject.toml README.md ./
COPY idp/ idp/
COPY templates/ templates/
COPY static/ static/
COPY migrations/ migrations/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && ls /dist/idp-*.whl

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IDP_CONFIG=/etc/idp/idp.yaml
RUN groupadd --system --gid 10001 idp \
 && useradd --system --uid 10001 --gid idp --home-dir /app --no-create-home \
    --shell /usr/sbin/nologin idp
# The locked runtime set (hash-checked), then the wheel alone; pip byte-compiles both. Neither
# the lock file nor the wheel stays in a layer, and pip and setuptools leave the venv after.
RUN --mount=type=bind,source=requirements/runtime.txt,target=/tmp/requirements/runtime.txt \
    --mount=type=bind,from=build,source=/dist,target=/tmp/dist \
    python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
    --require-hashes -r /tmp/requirements/runtime.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
    --no-deps /tmp/dist/idp-*.whl \
 && /opt/venv/bin/pip uninstall --yes --disable-pip-version-check setuptools pip
WORKDIR /app
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
