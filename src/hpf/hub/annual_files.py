"""The national annual report as files: xlsx (openpyxl) and PDF (reportlab, the CJK font embedded).

The xlsx's first sheet (全国住房公积金年度报告 by center) has one row per center — code, name,
province, then the figures in yuan, counts and rates — and a last row 全国合计; the second sheet
has the provinces and the same last row. Every text cell goes through
``hpf.kernel.exports.safe_cell`` (no formula injection from a center's name).
"""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO

from hpf.hub.national import COLUMNS, AnnualReport, AnnualRow, cell
from hpf.kernel.exports import safe_cell
from hpf.web.pdf_font import cjk_font


def title(report: AnnualReport) -> str:
    return f"{report.year}年全国住房公积金年度报告"


def xlsx_bytes(report: AnnualReport) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "按中心"
    headers = ["中心代码", "中心名称", "省份", *(h for h, _, _ in COLUMNS)]

    def figures(row: AnnualRow) -> list[object]:
        values = [cell(row, attribute, kind) for _, attribute, kind in COLUMNS]
        return [float(v) if isinstance(v, Decimal) else v for v in values]

    def line(row: AnnualRow, code: str, name: str, province: str) -> list[object]:
        return [safe_cell(code), safe_cell(name), safe_cell(province), *figures(row)]

    sheet.append(headers)
    for row in report.centers:
        sheet.append(line(row, row.code, row.name, row.province))
    sheet.append(line(report.nation, "", "全国合计", ""))
    provinces = book.create_sheet("按省份")
    provinces.append(["省份", *(h for h, _, _ in COLUMNS)])
    for row in report.provinces:
        provinces.append([safe_cell(row.name), *figures(row)])
    provinces.append(["全国合计", *figures(report.nation)])
    for ws in (sheet, provinces):
        for column in ws.iter_cols(min_row=2):
            for c in column:
                if isinstance(c.value, float):
                    c.number_format = "#,##0.00"
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def pdf_bytes(report: AnnualReport) -> bytes:
    """The report's tables on A4 landscape pages, the font embedded (a CJK font installed:
    Debian ``fonts-wqy-zenhei``, as ``.ci/run`` installs it)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = cjk_font()
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=title(report), leftMargin=24, rightMargin=24)
    heading = ParagraphStyle("h", fontName=font, fontSize=16, leading=22)
    sub = ParagraphStyle("s", fontName=font, fontSize=11, leading=16)

    def text(value: object) -> str:
        if value is None:
            return "—"
        if isinstance(value, int):
            return f"{value:,}"
        return f"{value:,.2f}" if not isinstance(value, str) else value

    def table(rows: list[AnnualRow], first: str, label: str) -> Table:
        data: list[list[str]] = [[first, *(h for h, _, _ in COLUMNS)]]
        for row in rows:
            data.append([label_of(row, label), *(text(cell(row, a, k)) for _, a, k in COLUMNS)])
        data.append(["全国合计", *(text(cell(report.nation, a, k)) for _, a, k in COLUMNS)])
        t = Table(data, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), font, 6.5),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                    ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                    ("BACKGROUND", (0, -1), (-1, -1), colors.whitesmoke),
                ]
            )
        )
        return t

    def label_of(row: AnnualRow, kind: str) -> str:
        return f"{row.code} {row.name}" if kind == "center" else row.name

    doc.build(
        [
            Paragraph(title(report), heading),
            Spacer(1, 8),
            Paragraph("一、分省情况", sub),
            table(report.provinces, "省份", "province"),
            Spacer(1, 12),
            Paragraph("二、分中心情况", sub),
            table(report.centers, "中心", "center"),
        ]
    )
    return out.getvalue()
