# One image for web, worker and beat (compose reuses it through a YAML anchor).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY humanbeauty humanbeauty
COPY annotation annotation
COPY curation curation
COPY modeling modeling
COPY frontend frontend
COPY manage.py ./
# CPU torch by default; a GPU worker image overrides TORCH_INDEX with a CUDA wheel index.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url ${TORCH_INDEX} "torch==2.13.0" && pip install -c requirements.lock -e .
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_DEBUG=false python manage.py collectstatic --noinput
RUN useradd --create-home app && mkdir -p /app/var && chown -R app /app/var
USER app
EXPOSE 8000
# Request line/header limits here; the body limit is the reverse proxy's and Django's (see docker-compose.yml).
CMD ["gunicorn", "humanbeauty.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "8", "--keep-alive", "30", "--access-logfile", "-", "--limit-request-line", "8190", "--limit-request-fields", "100", "--limit-request-field_size", "8190"]
