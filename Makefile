# The two commands a newcomer types: `make demo` and `make test` (both set up .venv themselves).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -q
# The main suite runs on every core (pytest-xdist); TEST_JOBS=0 runs it in this process alone.
TEST_JOBS ?= auto

.PHONY: demo test test-mpi test-fast conformance conformance-narrow conformance-baseline-gpu test-baseline-gpu bench install vulkan clean fuzz wheel-check jax-tests

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Editable install of portax (which registers cpu_llvm and wgpu), the numpy reference plugin and the example
# plugin portax-activations (its fused_softmax is certified with the rest).
$(VENV)/.installed: $(BIN)/python pyproject.toml plugins/reference/pyproject.toml plugins/activations/pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]" -e plugins/reference -e plugins/activations
	touch $@

install: $(VENV)/.installed

# Mesa's software Vulkan driver (lavapipe) when no Vulkan adapter exists and apt is usable.
vulkan: install
	@bash .ci/ensure_vulkan.sh $(BIN)/python

demo: install
	$(BIN)/python examples/mlp_demo.py
	@if [ "$$($(BIN)/python -W ignore -c 'import portax; print(portax.device_count())')" -gt 1 ]; then \
	  $(BIN)/python examples/pmap_demo.py; \
	else echo "pmap demo skipped: one device (try: PORTAX_CPU_DEVICES=2 make demo)"; fi

# Backends found here other than the default one (the multi-device suite runs on each of them too).
OTHER_BACKENDS = $(BIN)/python -W ignore -c 'from portax.core.backend import registry as r; \
	print(*[n for n in r.names() if n != r.default_name() and r.available(n)])' 2>/dev/null

# Tests of the backend under test that also run on every other backend found here.
EVERY_BACKEND_TESTS = tests/multidevice tests/api/test_callbacks.py tests/api/test_profiler.py \
	tests/core/test_debug_nans.py tests/core/test_narrow_floats.py tests/core/test_subbyte_ints.py \
	tests/core/test_checkpoint_policies.py tests/core/test_tracer_leaks.py

# wgpu as a baseline GPU offers it (a browser, an Apple laptop): WebGPU's default limits, no shader-f16/f64/int64,
# no subgroups. Every conformance cell must pass or be a clear unsupported error there too.
BASELINE_GPU = PORTAX_WGPU_DEFAULT_LIMITS=1 PORTAX_WGPU_DISABLE_FEATURES=shader-f16,shader-f64,shader-int64,subgroup
HAS_WGPU = $(BIN)/python -W ignore -c 'from portax.core.backend import registry as r; print(int(r.available("wgpu")))' 2>/dev/null
conformance-baseline-gpu: install vulkan
	@if [ "$$($(HAS_WGPU))" = 1 ]; then $(BASELINE_GPU) $(BIN)/python -m portax.conformance --backend wgpu --devices 4 \
	  --leak-calls 2000 --report conformance-report-baseline-gpu; else echo "baseline-GPU profile skipped: no wgpu adapter"; fi

# The wgpu backend's tests under that profile too (about 2 minutes on 2 cores).
test-baseline-gpu: install vulkan
	@if [ "$$($(HAS_WGPU))" = 1 ]; then echo "wgpu tests under the baseline-GPU profile"; \
	  $(BASELINE_GPU) $(BIN)/python -m pytest $(PYTEST_ARGS) -n $(TEST_JOBS) tests/wgpu; \
	else echo "baseline-GPU wgpu tests skipped: no wgpu adapter"; fi

test: install vulkan $(VENV)/.installed-mpi
	$(BIN)/python -m pytest $(PYTEST_ARGS) -n $(TEST_JOBS) tests plugins/activations/tests
	@for b in $$($(OTHER_BACKENDS)); do echo "multi-device, callback, profiler, narrow-dtype tests on $$b"; \
	  PORTAX_BACKEND=$$b $(BIN)/python -m pytest $(PYTEST_ARGS) -n $(TEST_JOBS) $(EVERY_BACKEND_TESTS) || exit 1; done
	@$(MAKE) --no-print-directory test-baseline-gpu
	$(BIN)/python -m portax.conformance --all-available --jobs 0 --devices 4 --processes 2 --report conformance-report
	@$(MAKE) --no-print-directory -j 2 --output-sync=target NARROW_DTYPES="bf16 f8_e4m3fn" \
	  conformance-narrow conformance-baseline-gpu
	$(BIN)/python .ci/check_wheels.py

# What pip users get: sdists and wheels built, installed into a fresh venv and tested from outside the
# checkout (every module imports, python -m portax, the demo, the CLI), and the plugin CI templates run.
wheel-check: install vulkan
	$(BIN)/python .ci/check_wheels.py

# The conformance suite on every backend available here (collectives across 2 processes under mpirun too); report cards in conformance-report-<backend>.{md,json,xml}.
conformance: $(VENV)/.installed-mpi vulkan
	$(BIN)/python -m portax.conformance --all-available --jobs 0 --devices 4 --processes 2 --report conformance-report
	@$(MAKE) --no-print-directory -j 2 --output-sync=target conformance-narrow conformance-baseline-gpu

# The primitives in the narrow float dtypes (emulated through wider ones on most hardware) on every backend.
NARROW_DTYPES ?= bf16 f8_e4m3fn f8_e5m2
conformance-narrow: install vulkan
	$(BIN)/python -m portax.conformance --all-available --jobs 0 --groups primitives --dtypes $(NARROW_DTYPES) \
	  --report conformance-report-narrow

# Differential fuzzing: N random programs per backend run eagerly and under jit, grad and vmap against the
# reference backend, with fresh seeds (SEED=s replays); prints the counts and minimised repros, fails on any
# disagreement or exception.
N ?= 500
fuzz: install vulkan
	$(BIN)/python -W ignore -m tests.differential --n $(N) $(if $(SEED),--seed $(SEED))

# Multi-process tests (tests/multiprocess): portax[mpi] installed (mpi4py, Open MPI's wheel with mpirun), then
# scripts run under mpirun -n 2 on every backend, -n 4 oversubscribed, and failing processes: 70-120 s on 2
# cores. `make test` runs the quick ones (2 processes on the default backend, 4 oversubscribed, a raising process,
# misuse): 40-60 s; the conformance suite in `make test` certifies every backend's collectives across 2 processes.
$(VENV)/.installed-mpi: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[mpi]"
	touch $@

test-mpi: $(VENV)/.installed-mpi vulkan
	PORTAX_MPI_TESTS=all $(BIN)/python -m pytest $(PYTEST_ARGS) tests/multiprocess

test-fast: install
	$(BIN)/python -m pytest $(PYTEST_ARGS) -x tests

# Benchmarks: portax cpu_llvm/wgpu vs NumPy vs JAX (jax[cpu] installed once into bench/.venv-jax); writes bench/results.md.
bench: install vulkan
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# JAX's own test files (tests/ at tag jax-v0.10.2) against portax, next to real jax's counts on this machine: a
# separate venv .venv-jaxtests (jax for the test harness only), JAX's tests from JAX_SRC=/path/to/jax/git or GitHub,
# report in .jax-tests/report.md. FILES="lax_test tree_util_test" for a subset, JOBS=2 for pytest-xdist, K=expr for -k.
jax-tests:
	$(PY) tests/jax_suite/run.py $(if $(FILES),--files "$(FILES)") $(if $(JOBS),--jobs $(JOBS)) $(if $(K),-k "$(K)")

clean:
	rm -rf $(VENV) build *.egg-info plugins/*/*.egg-info
