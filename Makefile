# Two commands: `make demo` and `make test`.  Both install what they need.
PYTHON ?= python3
QT ?= pyqt5
# The demo runs with the binding napari recommends (PyQt6 for napari 0.9: no deprecation notice over the slide).
DEMO_QT ?= pyqt6
DEMO_ARGS ?=
# GPU=1 installs cuCIM with cupy and the CUDA wheels (about 3 GB); by default only cuCIM's CPU reader.
GPU ?= 0
comma := ,
EXTRAS = test,$(QT)$(if $(filter 1,$(GPU)),$(comma)gpu)
VENV ?= $(if $(filter pyqt5,$(QT)),.venv,.venv-$(QT))
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
APT_PACKAGES := xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-image0 \
	libxcb-render-util0 libxkbcommon-x11-0 libxcb-shape0 libxcb-cursor0 libgl1 libegl1 \
	libfontconfig1 libdbus-1-3 nginx

# `make test` runs the whole suite once per Qt binding; QT_BINDINGS=pyqt5 narrows it.
QT_BINDINGS ?= pyqt5 pyqt6

.PHONY: demo demo-one test test-one test-pyqt6 install system-deps lint format clean

# The last step adds cuCIM's CPU reader, and nvImageCodec for its cuslide2 plugin, without the 3 GB of CUDA
# wheels cuCIM's package requires (see the README).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	$(BIN)/python -m pip install -q --no-deps "cucim-cu12>=25.0; sys_platform == 'linux'" \
		"nvidia-nvimgcodec-cu12>=0.9,<0.10; sys_platform == 'linux'"
	touch $@

install: $(STAMP)

# Qt needs these X libraries; the tests need Xvfb.  Installed when missing and running as root.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing system packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "please install: $$missing (sudo apt-get install ...)"; exit 1; \
		fi; \
	fi

test: system-deps
	@for qt in $(QT_BINDINGS); do $(MAKE) --no-print-directory test-one QT=$$qt || exit 1; done

test-one: $(STAMP)
	@echo "== tests with $(QT) ($(VENV)) =="
	$(BIN)/ruff check napari_wsi_io tests benchmarks
	QT_API=$(QT) xvfb-run -a -s "-screen 0 1920x1200x24" $(BIN)/python -m pytest $(PYTEST_ARGS)

test-pyqt6:
	$(MAKE) test QT_BINDINGS=pyqt6

demo: system-deps
	@$(MAKE) --no-print-directory demo-one QT=$(DEMO_QT)

demo-one: $(STAMP)
	$(BIN)/napari-wsi-io demo $(DEMO_ARGS)

lint:
	$(BIN)/ruff check napari_wsi_io tests benchmarks
	$(BIN)/ruff format --check napari_wsi_io tests benchmarks

format:
	$(BIN)/ruff format napari_wsi_io tests benchmarks
	$(BIN)/ruff check --fix napari_wsi_io tests benchmarks

clean:
	rm -rf .venv .venv-pyqt6 .pytest_cache build dist
