# One image for web, worker, beat and migrate (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH="/app/.venv/bin:$PATH"

# gettext compiles the French and Dutch catalogues at build time. Pango and
# the DejaVu fonts are what WeasyPrint renders packs with; without
# libharfbuzz-subset0 it subsets fonts in slow Python (PDF_NOTES.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv==0.13.9

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev
COPY . .

# The app's own bytecode too (uv compiles the packages'): the app user cannot
# write it, so every process would otherwise compile it at each start.
RUN python -m compileall -q -j 0 -x '/\.venv/' /app

# Static files and catalogues are built into the image. The settings need
# production-shaped values to load; none of these is used at run time.
RUN env PRODUCTION=true \
        SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
        ALLOWED_HOSTS=build DATA_DIR=/tmp/build \
        DATABASE_URL=postgres://build@localhost/build \
        CELERY_BROKER_URL=redis://localhost:6379/0 \
        sh -c 'python manage.py collectstatic --no-input -v 0 \
            && python manage.py compilemessages --ignore=.venv -v 0' \
    && rm -rf /tmp/build

RUN useradd --system --uid 1000 --home-dir /app app \
    && mkdir -p /app/var && chown app:app /app/var
USER app

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
