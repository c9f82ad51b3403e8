# The two commands a newcomer needs:
#   make demo   installs everything, migrates, loads demo data and serves http://127.0.0.1:8000 (SQLite, Celery eager)
#   make test   runs the whole test suite against PostgreSQL and Redis on 127.0.0.1
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000
# pytest-django creates test_<name>; CI passes a per-run name and Redis db so two runs never collide.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/humanbeauty
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install demo serve test lint services bench lock

install: $(VENV)/.installed

# torch first (the local CPU wheel satisfies the pin), then everything else at the versions pinned in
# requirements.lock (used as constraints, so the lock never adds what pyproject.toml does not ask for).
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c requirements.lock -e ".[dev]"
	touch $@

# Re-pin after changing pyproject.toml's dependencies (torch is pinned separately, above and in the Dockerfile).
lock: install
	{ sed -n '1,3p' requirements.lock; $(PY) -m pip freeze --exclude-editable | grep -v -i '^torch==\|@ file'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo
	$(PY) manage.py runserver $(HOST)

test: install
	DATABASE_URL=$(TEST_DATABASE_URL) HB_TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres $(PY) manage.py makemigrations --check --dry-run

services:
	pg_isready -h 127.0.0.1 -p 5432 -q || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no

bench: install
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done
