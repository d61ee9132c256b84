"""The CJK font every PDF of OpenHPF is written in, embedded (STACK.md).

reportlab's built-in ``STSong-Light`` is not embedded and renders blank where no CJK font is
installed, so it is never used: a PDF is written in WenQuanYi Zen Hei (Debian
``fonts-wqy-zenhei``, installed by ``.ci/run`` and named in the README), subset and embedded, or
not at all.
"""

from __future__ import annotations

from pathlib import Path

from hpf.kernel.errors import HpfError

FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
FONT_NAME = "WenQuanYiZenHei"


def cjk_font() -> str:
    """The registered font's name; refused with a clear error when the font is not installed."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    if not FONT_FILE.exists():
        raise HpfError(
            "pdf.font_missing",
            "服务器未安装中文字体（fonts-wqy-zenhei），无法生成PDF",
            f"the CJK font {FONT_FILE} is not installed (Debian fonts-wqy-zenhei); no PDF without it",
            status=503,
        )
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_FILE), subfontIndex=0))
    return FONT_NAME
