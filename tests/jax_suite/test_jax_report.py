"""`make jax-tests`'s counting and failure clustering, on a small JUnit XML (no jax, no network)."""
import pathlib
import sys

HERE = str(pathlib.Path(__file__).parent)
if HERE not in sys.path:  # jax_report sits next to this file
    sys.path.insert(0, HERE)
from jax_report import cause, parse_junit, render  # noqa: E402

PORTAX_XML = """<testsuites><testsuite>
<testcase classname="m.T" name="a"/>
<testcase classname="m.T" name="b"><failure message="TypeError: add got incompatible shapes: (2, 3), (2, 1)."/></testcase>
<testcase classname="m.T" name="c"><failure message="TypeError: add got incompatible shapes: (4, 5), (4, 1)."/></testcase>
<testcase classname="m.T" name="d"><skipped message="gpu only"/></testcase>
</testsuite></testsuites>"""
JAX_XML = PORTAX_XML.replace('<failure message="TypeError: add got incompatible shapes: (4, 5), (4, 1)."/>', "")
JAX_XML = JAX_XML.replace('<failure message="TypeError: add got incompatible shapes: (2, 3), (2, 1)."/>', "")
JAX_XML = JAX_XML.replace("</testsuite>", '<testcase classname="m.T" name="e"/></testsuite>')


def test_counts_ratio_and_clustered_causes(tmp_path):
    (tmp_path / "p.xml").write_text(PORTAX_XML)
    (tmp_path / "j.xml").write_text(JAX_XML)
    portax, jax = parse_junit(tmp_path / "p.xml"), parse_junit(tmp_path / "j.xml")
    assert (len(portax.passed), len(portax.failed), len(portax.skipped)) == (1, 2, 1)
    text, ratio = render({"m": portax}, {"m": jax}, "# t")
    assert ratio == 1 / 4  # a passes on both; JAX passes a, b, c, e
    assert "| m | 4 | 1 | 2 | 1 | 1 | 5 | 4 | 25.0% |" in text  # e is absent from portax's run
    assert "| 2 | `TypeError: add got incompatible shapes: (N, N), (N, N).` | m | m.py::b |" in text  # one cluster
    assert cause("TypeError: add got incompatible shapes: (5,), (4,).") == "TypeError: add got incompatible shapes: (N,), (N,)."


def test_real_jax_refusing_a_portax_array_is_named():
    message = ("TypeError: Argument '[0. 1.]' of type <class 'portax.core.array.Array'> is not a valid JAX type.")
    assert cause(message).startswith("[test calls real jax internals (jax._src) on a portax array]")
