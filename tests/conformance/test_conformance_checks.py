"""The checks beyond primitives: PRNG values, bad input, the leak check and the multi-device cases."""
import numpy as np

from conformance_backends import installed
from portax.conformance import bad_input, leak_check, pmap_checks, prng_checks
from portax.conformance.prng_vectors import JAX_VALUES
from portax.conformance.report import FAIL, NEEDS_DEVICES, PASS, SKIP, UNSUPPORTED
from portax.conformance.runner import x64
from portax.core.primitives import prng
from portax_reference.rules import RULES


def test_prng_matches_jax_and_the_known_answers_on_reference():
    with x64(False):
        cells = list(prng_checks.known_answers("reference")) + list(prng_checks.jax_values("reference"))
    assert {c.status for c in cells} == {PASS}
    assert {c.name for c in cells} >= {"threefry2x32 known answers", "random.uniform(PRNGKey(0), (8,))"}
    assert len(cells) == 2 + len(JAX_VALUES)


def test_a_wrong_threefry_bit_breaks_bit_equality():
    def wrong(k1, k2, x1, x2):
        a, b = RULES[prng.threefry2x32_p](k1, k2, x1, x2)
        return [a, b ^ np.uint32(1 << 30)]
    with installed("bad-prng", rules={prng.threefry2x32_p: wrong}):
        with x64(False):
            known = list(prng_checks.known_answers("bad-prng"))
        sampled = list(prng_checks.against_reference("bad-prng", (np.dtype(np.uint32), np.dtype(np.float32))))
    assert {c.status for c in known} == {FAIL} and "differ (exact comparison)" in known[0].message
    failed = {(c.name, c.transform) for c in sampled if c.status == FAIL}
    assert failed >= {("random.bits", "jit"), ("random.bits", "vmap"), ("random.uniform", "jit")}


def test_bad_input_raises_type_or_value_errors():
    cells = list(bad_input.run("reference"))
    assert len(cells) == 2 * len(bad_input.CHECKS) and {c.status for c in cells} == {PASS}
    assert {c.transform for c in cells} == {"eager", "jit"}


def test_leak_check_passes_on_reference_and_catches_a_leak():
    cells = list(leak_check.run("reference", calls=2000))
    assert [c.status for c in cells] == [PASS, PASS, PASS], [c.message for c in cells]  # reference reports memory_stats
    kept = []

    def leaky(exe):
        def call(*bufs):
            out = exe(*bufs)
            kept.append([o.copy() for o in out])
            return out
        return call
    with installed("leaky", wrap_executable=leaky):
        cells = list(leak_check.run("leaky", calls=2000))
    assert cells[0].status == FAIL and "host (tracemalloc)" in cells[0].transform
    assert "memory grew by" in cells[0].message and len(kept) > 2000


def test_multi_device_cases_skip_or_report_unsupported():
    one = list(pmap_checks.run("reference"))
    assert len(one) == 3 * len(pmap_checks.CASES)
    by_count = {(c.name, c.transform): c for c in one}
    assert by_count[("psum", "1 device")].status == PASS
    assert by_count[("psum", "4 devices")].status == NEEDS_DEVICES
    assert by_count[("psum", "4 devices")].message == ("needs 4 devices; backend 'reference' offers 1 (set "
                                                         "PORTAX_REFERENCE_DEVICES=4 or pass --devices 4)")
    with installed("four", devices=4):
        four = list(pmap_checks.run("four", max_devices=2))
    statuses = {(c.name, c.transform): c.status for c in four}
    assert statuses[("all_to_all", "2 devices")] == PASS and statuses[("all_to_all", "4 devices")] == SKIP
    assert "--devices 2" in next(c.message for c in four if c.transform == "4 devices")


def test_process_cells_merge_to_the_worst_status_naming_the_process():
    from portax.conformance.process_checks import merge
    from portax.conformance.report import Cell
    ok = [Cell("processes", n, "f32", "2 processes x 1 devices", "pass", "", 1) for n in ("psum", "pmax")]
    bad = [ok[0], Cell("processes", "pmax", "f32", "2 processes x 1 devices", "fail", "AssertionError: off", 1)]
    merged = list(merge([ok, bad]))
    assert [(c.name, c.status) for c in merged] == [("psum", "pass"), ("pmax", "fail")]
    assert merged[1].message == "process 1: AssertionError: off"


def test_process_group_without_processes_is_one_skip_cell():
    from portax.conformance.process_checks import run
    assert [c.status for c in run("cpu_llvm", None)] == ["skip"]
