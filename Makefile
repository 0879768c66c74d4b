# The two commands of the README:  make book  (build the site)  and  make test  (run every test).
# Both create the environment .venv from the pinned lock on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NBVAL  := build/nbval
# The notebooks and tests run many small tensor operations: one OpenMP thread per process is
# faster than two, and far faster on a busy machine (measured 11 s vs 130 s for notebook 02's
# smoke work under load). Override with `make test OMP_NUM_THREADS=2`.
OMP_NUM_THREADS ?= 1
export OMP_NUM_THREADS

.PHONY: env test unit notebooks-smoke book check-site pdf paper calibrate findings controls blocks reexecute update-mathjax clean

env: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ddlib)" > /dev/null
	touch $(STAMP)

# Every notebook, converted with jupytext and parameterised at the smoke profile.
$(NBVAL): env notebooks/*.md
	rm -rf $(NBVAL)
	for nb in notebooks/*.md; do \
	  $(VENV)/bin/ddlib run $$nb --profile smoke --prepare-only --output-dir $(NBVAL) || exit 1; \
	done

# Unit tests and nbval (lax: a cell fails on an error or a failed assertion) in one pytest run.
test: env
	$(MAKE) --no-print-directory -B $(NBVAL)
	$(PY) -m pytest tests $(NBVAL) --nbval-lax -p no:cacheprovider

# The site: executes every notebook at the book profile (execution cache in _build/.jupyter_cache).
# The cache is keyed on ddlib's source too: booksite.cache_stamp clears it when ddlib (code and
# calibration records), the committed data or the lock changed since the last build, so no page
# shows outputs of an older library. booksite.preexecute fills the cache BOOK_JOBS notebooks at a
# time (each kernel uses one core), then jupyter-book builds from the cache.
BOOK_JOBS ?= 2
book: export DDLIB_BOOK_BUILD = 1
book: env
	$(PY) -m booksite.cache_stamp --cache _build/.jupyter_cache
	$(PY) -m booksite.preexecute --cache _build/.jupyter_cache --jobs $(BOOK_JOBS)
	$(VENV)/bin/jupyter-book build . --all -W -n --keep-going

# The built site in headless Chromium (Debian's chromium; apt-get install -y chromium), every page at
# 390 (phone), 768 (tablet) and 1280 px (desktop): maths typeset, images loaded, no console error, no
# request leaving the site, no sideways scroll of the page, no clipped equation, every table's last
# column within reach, nothing wider than the text column at 1280 px, and the navigation buttons open
# their drawers. Screenshots in _build/site-check/<width>/, report.json there. Run after `make book`.
check-site: env
	$(PY) -m booksite.check --html _build/html --toc _toc.yml --out _build/site-check

# The whole book as one PDF, offline: headless Chromium prints every page of the built site in the
# order of _toc.yml and pypdf merges them (one bookmark per page) into _build/pdf/ddlib-book.pdf, also
# copied into the site as _downloads/ddlib-book.pdf (the intro links it from the next build on).
# Run after `make book`; `make book` never runs it.
pdf: env
	$(PY) -m booksite.pdf --html _build/html --toc _toc.yml --out _build/pdf/ddlib-book.pdf

# Refresh the committed MathJax bundle (book/_static/mathjax) from the npm registry; then update the
# version and sha256 in book/_static/mathjax/README.txt.
MATHJAX_VERSION ?= 3.2.2
update-mathjax:
	rm -rf build/mathjax && mkdir -p build/mathjax
	cd build/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) > /dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	cp build/mathjax/package/es5/tex-svg-full.js build/mathjax/package/LICENSE book/_static/mathjax/
	sha256sum book/_static/mathjax/tex-svg-full.js

# The paper-scale data of notebook 03 (data/memory_law/): the full grid of the memory law, resumable,
# 2.7 CPU-hours, 1 h 24 min on 2 workers when committed (data/memory_law/README.md). `make book` never recomputes it.
paper: env
	$(PY) -m ddlib.experiments.memory_law regenerate --workers 2

# The full factorial of notebook 06 at the paper profile (data/stages/): every stage-1 x stage-2 arm in
# 12 conditions, one condition at a time, resumable (the manifest says which are in); `make book` never runs it.
factorial: env
	$(PY) -m ddlib.experiments.stages regenerate

# The calibration records (ddlib/experiments/calibration/*.json): every claim's quantities on 10
# repetitions from base seed 1000, which the book and CI never run; thresholds are set from them.
calibrate: env
	$(PY) -m ddlib.experiments.calibration

# The findings: every page run at its defaults at the smoke and book profiles, and its verdicts
# recorded in ddlib/experiments/findings/<notebook>.json (a page at its defaults must reproduce them:
# a change of a finding is committed with its record).  A run that crashes (exit 1 or 2) stops it.
findings: export DDLIB_RECORDING_FINDINGS = 1
findings: env
	rm -rf build/findings
	for profile in smoke book; do \
	  for nb in notebooks/*.md; do \
	    $(VENV)/bin/ddlib run $$nb --profile $$profile --no-progress --output-dir build/findings/$$profile/$$(basename $$nb .md) > /dev/null; \
	    status=$$?; if [ $$status -ne 0 ] && [ $$status -ne 3 ]; then echo "$$nb ($$profile) failed: exit $$status"; exit 1; fi; \
	  done; \
	  $(PY) -m ddlib.book.findings record build/findings/$$profile --profile $$profile || exit 1; \
	done

# The negative controls: every claim's control run at the smoke profile and recorded in
# ddlib/experiments/controls/<notebook>.json, which the pages show (tests/test_controls.py reruns them).
controls: env
	$(PY) -m ddlib.book.controls

# The two extra blocks of seeds at the book profile (ddlib/experiments/blocks/<notebook>.json): every
# page's claims decided on base seeds the book does not choose; the pages and the summary show them.
blocks: env
	$(PY) -m ddlib.book.blocks

# The re-execution matrix (booksite/reexecution.py): every notebook re-run at reader parameters, at
# both profiles; its table (book/_generated/reexecution.md) is shown on the reproduce page.
reexecute: env
	$(PY) -m booksite.reexecution --jobs 2

clean:
	rm -rf _build build runs notebooks/results
