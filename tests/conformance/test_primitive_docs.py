"""docs/primitives.md: generated from the primitive table, and CI fails when it is stale."""
from pathlib import Path

import numpy as np
import pytest

from portax.conformance import primitive_docs, primitive_meanings
from portax.core.backend import registry
from portax.core.primitives import all_primitives, elementwise as ew

DOC = Path(__file__).resolve().parents[2] / primitive_docs.DOC_PATH


@pytest.fixture(scope="module")
def generated() -> str:
    return primitive_docs.generate()


def test_the_checked_in_reference_is_up_to_date(capsys):
    assert primitive_docs.main(["--check", str(DOC)]) == 0, capsys.readouterr().err


def test_check_fails_with_a_diff_and_how_to_regenerate(tmp_path, capsys, generated):
    stale = tmp_path / "primitives.md"
    stale.write_text(generated.replace("integer division truncates toward zero", "integer division floors"))
    assert primitive_docs.check(str(stale), generated) == 1
    err = capsys.readouterr().err
    assert "-`x / y`; integer division floors." in err and "+`x / y`; integer division truncates toward zero." in err
    assert primitive_docs.COMMAND in err
    assert primitive_docs.check(str(tmp_path / "missing.md"), generated) == 1
    assert primitive_docs.check(str(DOC), generated) == 0


def test_every_primitive_has_a_section(generated):
    for prim in all_primitives():
        assert f"\n### `{prim.name}`\n\n{primitive_meanings.MEANINGS[prim.name]}\n" in generated


def test_a_primitive_without_a_description_fails_generation(monkeypatch):
    monkeypatch.delitem(primitive_meanings.MEANINGS, "clz")
    with pytest.raises(RuntimeError, match="without a description: clz"):
        primitive_docs.generate()


def test_dtypes_come_from_the_abstract_eval_rule(generated):
    section = generated.split("\n### `exp`\n")[1].split("\n### ")[0]
    assert ("- **Dtypes:** f16, f32, f64, bf16, f8_e3m4, f8_e4m3, f8_e4m3b11fnuz, f8_e4m3fn, f8_e4m3fnuz, f8_e5m2, "
            "f8_e5m2fnuz, f8_e8m0fnu, c64, c128; rejects bool, i8, i16, i32, i64, u8, u16, u32, u64. "
            "Output: the operand dtype.") in section
    section = generated.split("\n### `argmax`\n")[1].split("\n### ")[0]
    assert "Output: the `index_dtype` parameter." in section
    assert "- **Parameters:** `axes` (e.g. `(0,)`), `index_dtype` (e.g. `i32`)." in section


def test_edge_results_are_the_reference_backends(monkeypatch):
    rows = primitive_docs.edge_rows(ew.div_p)
    assert ("`lax.div(x, y)`", "x = u32 [7, 0]; y = u32 [0, 0]") == (f"`{rows[1][0]}`", rows[1][1])
    assert rows[1][2] == "u32 [4294967295, 4294967295]"
    reference = registry.get("reference")
    monkeypatch.setitem(reference.rules, ew.div_p, lambda x, y: np.zeros_like(x))
    assert primitive_docs.edge_rows(ew.div_p)[1][2] == "u32 [0, 0]"
