# pv-tracker: `make demo` runs the demo; `make test` runs the whole test suite.
# Both set everything up first (virtualenv, Python packages, front-end assets, Chromium).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export PV_DATABASE_URL ?= sqlite:///./pv.sqlite

.PHONY: demo test setup browser fonts lint bench bench-pg bench-scale clean i18n i18n-compile

demo: setup fonts
	$(BIN)/pvtracker demo --port $(PORT)

test: setup browser
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

setup: $(STAMP) i18n-compile

# Translations (pv/i18n.py): `make i18n` extracts every marked string from pv/ and
# templates/ and merges it into each catalog; set-up compiles the catalogs (the .mo files
# are not committed).
LOCALE_DIR := pv/locale
PO_FILES := $(wildcard $(LOCALE_DIR)/*/LC_MESSAGES/messages.po)
i18n: $(STAMP)
	$(BIN)/pybabel --quiet extract -F babel.cfg -k N_ -k pgettext:1c,2 --sort-by-file \
	  --project pv-tracker --copyright-holder "pv-tracker authors" \
	  -o $(LOCALE_DIR)/messages.pot pv templates
	$(BIN)/pybabel --quiet update --no-fuzzy-matching -i $(LOCALE_DIR)/messages.pot -d $(LOCALE_DIR)
	$(MAKE) i18n-compile

i18n-compile: $(STAMP) $(PO_FILES:.po=.mo)

$(LOCALE_DIR)/%/LC_MESSAGES/messages.mo: $(LOCALE_DIR)/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

$(STAMP): pyproject.toml package.json package-lock.json
	test -d $(VENV) || $(PY) -m venv $(VENV)
	npm ci --no-audit --no-fund
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

# Browser tests drive the system Chromium (Debian package `chromium`) through Playwright;
# Playwright's own browser download is not used (locked-down networks).
# Chinese text needs a CJK font: Chromium draws the zh-Hans screens with it, the charts and
# the CIOMS I PDF embed it (Debian package fonts-noto-cjk, Noto Sans CJK SC; nothing is
# downloaded at run time).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
fonts:
	@test -f $(CJK_FONT) || { \
	  echo "Installing the Noto CJK fonts (Debian package fonts-noto-cjk) for Chinese charts and PDFs"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-noto-cjk >/dev/null; }

browser:
	@{ command -v chromium >/dev/null 2>&1 && test -f $(CJK_FONT); } || { \
	  echo "Installing Chromium and the Noto CJK fonts (Debian packages) for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

lint: setup
	$(BIN)/ruff check pv tests
	$(BIN)/ruff format --check pv tests

bench: setup
	$(BIN)/python bench/bench_cli.py
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_tables.py
	$(BIN)/python bench/bench_upload.py
	$(BIN)/python bench/bench_upload_availability.py
	$(BIN)/python bench/bench_workbook.py
	$(BIN)/python bench/bench_queue.py
	$(BIN)/python bench/bench_queue.py --workers-compare
	$(BIN)/python bench/bench_queue_query.py
	$(BIN)/python bench/bench_login.py

# The 10^6-event scale runs on PostgreSQL (issue 7): a bench database whose contents are replaced.
PV_BENCH_PG_URL ?= postgresql+psycopg://pvtest:pvtest@127.0.0.1:5432/pvbench
bench-pg: setup
	$(BIN)/python bench/bench_tables.py --pg $(PV_BENCH_PG_URL)
	$(BIN)/python bench/bench_queue.py --pg $(PV_BENCH_PG_URL)

# Scale beyond one database file (issue 17): the table set and the review queue on PostgreSQL
# at 10^5, 10^6 and 10^7 events, each built in its own database (pvscale_1e5, _1e6, _1e7,
# created beforehand, owned by the bench role; their contents are replaced); about 30 minutes.
PV_SCALE_PG_URL ?= postgresql+psycopg://pvtest:pvtest@127.0.0.1:5432/pvscale_{scale}
bench-scale: setup
	$(BIN)/python bench/bench_scale.py --url $(PV_SCALE_PG_URL) $(BENCH_SCALE_ARGS)

clean:
	rm -rf $(VENV) node_modules pv.sqlite pv.sqlite-wal pv.sqlite-shm

# The DSMB workbooks (open and closed session of the demo) as PDF pages and PNG images, to
# look at what a board prints: needs LibreOffice (soffice) and pdftoppm (poppler-utils);
# not part of `make test` (CI has neither). DSMB_PDF_ARGS: e.g. --language zh-Hans.
.PHONY: dsmb-pdf
dsmb-pdf: setup
	$(BIN)/python scripts/dsmb_pdf.py --out build/dsmb-pdf $(DSMB_PDF_ARGS)
