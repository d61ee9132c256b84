"""Limits on uploaded zip archives (xlsx files are zip archives), checked before parsing.

A spreadsheet reader inflates every member of the archive it opens. A 1 MB xlsx can hold a
sheet that inflates to gigabytes (a "zip bomb"): before this check, one such upload took half a
minute and 4 GB of memory on the event loop. ``check_zip`` reads only the archive's central
directory (``ZipFile.infolist``: names and declared sizes, a few bytes per member) and refuses:

* too many members (``upload.too_many_members``),
* a member, or all of them together, declared larger than the cap (``upload.too_large``),
* a member that inflates far more than real spreadsheets do (``upload.compression_ratio``);
  a large ratio on a tiny member is harmless, so the ratio counts only above ``RATIO_FLOOR``.

The declared size is what a reader trusts: Python's ``zipfile`` and the Rust ``zip`` crate under
calamine both stop inflating a member at its declared size (and fail its CRC), so a lying
directory cannot make them inflate more than was checked here.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from hpf.kernel.errors import InvalidInput, TooLarge

MB = 1 << 20
MAX_MEMBERS = 1_000
"""An xlsx from Excel or WPS has a dozen members; a few hundred with many sheets and images."""
MAX_MEMBER_BYTES = 64 * MB
"""One member inflated. The 20,000-row list template's sheet is about 3 MB."""
MAX_TOTAL_BYTES = 128 * MB
"""All members inflated together."""
MAX_RATIO = 100
"""Spreadsheet XML deflates 5–20 times; a bomb of one repeated byte about 1,000 times."""
RATIO_FLOOR = 1 * MB
"""Members that inflate to less than this are not held to the ratio."""


def _too_large(detail: str, **extra: Any) -> TooLarge:
    return TooLarge("upload.too_large", "上传文件解压后过大，请拆分后重新上传", detail, **extra)


def check_zip(
    content: bytes,
    *,
    max_members: int = MAX_MEMBERS,
    max_member: int = MAX_MEMBER_BYTES,
    max_total: int = MAX_TOTAL_BYTES,
    max_ratio: int = MAX_RATIO,
) -> None:
    """Refuse an archive whose members would inflate beyond the limits; read nothing else.

    A file that is not a zip archive is left to the parser, which reports it as unreadable.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        return
    if len(members) > max_members:
        raise InvalidInput(
            "upload.too_many_members",
            "上传文件包含的条目过多",
            f"the archive has {len(members)} members; at most {max_members}",
            members=len(members),
        )
    total = 0
    for info in members:
        if info.file_size > max_member:
            raise _too_large(
                f"{info.filename} inflates to {info.file_size} bytes; a member may inflate to {max_member}",
                member=info.filename,
            )
        total += info.file_size
        if total > max_total:
            raise _too_large(f"the archive inflates to more than {max_total} bytes")
        if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
            raise InvalidInput(
                "upload.compression_ratio",
                "上传文件压缩比异常，疑似恶意文件",
                f"{info.filename} inflates {info.file_size // max(info.compress_size, 1)} times; "
                f"at most {max_ratio}",
                member=info.filename,
            )
