"""latin_code: Latin identifiers in Chinese text set as <code>, everything else escaped."""

from hpf.web.pages_common import latin_code


def test_identifiers_become_code_and_the_rest_stays_text():
    assert (
        str(latin_code("贷款业务明细类型 DKYWMXLX 的代码")) == "贷款业务明细类型 <code>DKYWMXLX</code> 的代码"
    )
    assert str(latin_code(None)) == ""


def test_markup_in_the_text_is_escaped_whole():
    """An ampersand or a tag is escaped, and no entity is cut in two by the identifier pattern."""
    assert str(latin_code("A&B 与 <script>")) == "A&amp;B 与 &lt;<code>script</code>&gt;"
    assert str(latin_code("& amp")) == "&amp; <code>amp</code>"
    assert str(latin_code('"quote" GRZH')) == "&#34;<code>quote</code>&#34; <code>GRZH</code>"
