# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.10 is required by Rasa 3.6.21: the first candidate that really runs (a pyenv shim on
# PATH may exist without a 3.10 selected), from PATH, then pyenv's versions.
PYTHON310 ?= $(shell for p in $$(command -v python3.10) $$(ls -1d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null | sort -r); do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOTLINE := $(BIN)/hotline

.PHONY: help run test install system-deps asterisk bench bench-reports eval train clean

help:
	@echo "make run    set up .venv, migrate, load demo data, serve http://127.0.0.1:8080 (SQLite under var/)"
	@echo "make test   set up .venv and the test tools, then run the whole test suite"
	@echo "make eval   held-out figures: NLU (intents, out-of-scope, entities) and the category classifier"
	@echo "make bench  run the benchmarks under bench/"

$(STAMP): pyproject.toml constraints.txt
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "Python 3.10 is required (Rasa 3.6.21 supports no newer Python) and was not found."; \
	  echo "Install it with your package manager (e.g. 'apt-get install python3.10 python3.10-venv')"; \
	  echo "or with pyenv ('pyenv install 3.10'), or run: make PYTHON310=/path/to/python3.10 ..."; \
	  exit 1; fi
	@[ -x $(BIN)/python ] || $(PYTHON310) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade 'pip>=24' 
	$(BIN)/pip install --quiet --progress-bar off -c constraints.txt -e '.[test]'
	@touch $@

# everything the tests need: the Python packages with the test extras, and the Debian packages
install: $(STAMP) system-deps

run: $(STAMP)
	$(HOTLINE) db upgrade
	$(HOTLINE) demo-data
	$(HOTLINE) train
	$(HOTLINE) run --no-migrate

# Debian packages the tests drive: a real browser (headless Chromium) and the CJK fonts it needs
# to draw the Chinese pages (without them every Chinese character is a box), dovecot, PostgreSQL's
# client tools (backups), Redis (several gateway processes).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="chromium"; \
	fc-list 2>/dev/null | grep -qi 'Noto Sans CJK' || missing="$$missing fonts-noto-cjk"; \
	ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' || missing="$$missing libpango-1.0-0"; \
	[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/dovecot-lda ] || missing="$$missing dovecot-imapd"; \
	command -v pg_dump >/dev/null 2>&1 || missing="$$missing postgresql-client"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's $$missing for the tests"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	@# the scale-out tests share one Redis on 127.0.0.1:6379 (each under a key prefix of its own):
	@# started here, in memory only, when nothing answers there
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "starting redis-server on 127.0.0.1:6379 for the tests"; \
	  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null; }

# A real Asterisk 22 for the real-Asterisk tier (tests/test_asterisk_*.py): built offline from the
# shared tarballs once per machine (~5-12 min), reused after (keyed by the tarballs). Under CI=true a
# missing source or a failed build fails the run; elsewhere those tests are skipped, saying why.
ASTERISK_SRC ?= $(abspath ../shared/asterisk)
ASTERISK_PREFIX ?= $(HOME)/.cache/hotline-asterisk/22.10.1
export HOTLINE_ASTERISK_SRC := $(ASTERISK_SRC)
export HOTLINE_ASTERISK_PREFIX := $(ASTERISK_PREFIX)

asterisk:
	@set -o pipefail; \
	if [ -x "$(ASTERISK_SRC)/build.sh" ]; then \
	  "$(ASTERISK_SRC)/build.sh" "$(ASTERISK_PREFIX)" | tail -1 || { \
	    echo "Asterisk build failed (see $(ASTERISK_PREFIX)/build.log)"; [ "$$CI" != "true" ]; }; \
	elif [ "$$CI" = "true" ]; then echo "no Asterisk sources at $(ASTERISK_SRC)"; exit 1; \
	else echo "no Asterisk sources at $(ASTERISK_SRC): the real-Asterisk tests will be skipped"; fi

# Trained models (the bot ~5 min, its English NLU ~20 s, the category classifier ~1 min) are
# cached outside the clone, keyed by their inputs: each file is named after a fingerprint of what it
# was trained from, so a clean clone takes the one its data and code produce, or trains it and
# leaves it for the next.
MODEL_CACHE ?= $(HOME)/.cache/hotline-models

test: $(STAMP) system-deps asterisk
	@mkdir -p models "$(MODEL_CACHE)"; cp -pn "$(MODEL_CACHE)"/hotline-*.tar.gz "$(MODEL_CACHE)"/nlu-en-*.tar.gz \
	  "$(MODEL_CACHE)"/classifier-*.joblib models/ 2>/dev/null || true
	@status=0; $(BIN)/python -m pytest -q --durations=30 || status=$$?; \
	cp -pn models/hotline-*.tar.gz models/nlu-en-*.tar.gz models/classifier-*.joblib "$(MODEL_CACHE)"/ 2>/dev/null; \
	for kind in 'hotline-*.tar.gz' 'nlu-en-*.tar.gz' 'classifier-*.joblib'; do \
	  ls -1t "$(MODEL_CACHE)"/$$kind 2>/dev/null | tail -n +4 | xargs -r rm -f; done; \
	exit $$status

bench: $(STAMP)
	$(BIN)/python bench/cases.py
	$(BIN)/python bench/desk.py
	$(BIN)/python bench/voice.py
	$(BIN)/python bench/mail.py
	$(BIN)/python bench/dialogue.py
	$(BIN)/python bench/similar.py

# every report on 1,000,000 generated cases, PostgreSQL and SQLite (about 25 minutes on 2 cores)
bench-reports: $(STAMP)
	$(BIN)/python bench/reports.py

train: $(STAMP)
	$(HOTLINE) train

eval: $(STAMP)
	$(BIN)/python -m bot.evaluate
	$(HOTLINE) classifier eval

clean:
	rm -rf $(VENV) var build *.egg-info
