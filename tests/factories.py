"""Valid test data: resident IDs, credit codes, employer and member payloads."""

from hpf.kernel.identifiers import resident_id_check_digit, uscc_check_char


def make_resident_id(seq: int, birth: str = "19900307", region: str = "370102", female: bool = False) -> str:
    """A valid 18-digit resident ID for tests."""
    order = (seq % 500) * 2 + (0 if female else 1)
    body = f"{region}{birth}{order:03d}"
    return body + resident_id_check_digit(body)


def make_uscc(seq: int) -> str:
    """A valid unified social credit code for tests."""
    from stdnum.cn import uscc as std_uscc  # organisation code part must carry its own check

    org = f"{seq:08d}"
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    check = 11 - sum(int(d) * w for d, w in zip(org, weights, strict=True)) % 11
    org += {10: "X", 11: "0"}.get(check, str(check))
    body = f"91370102{org}"
    code = body + uscc_check_char(body)
    std_uscc.validate(code)
    return code


def employer_payload(seq: int = 1, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "uscc": make_uscc(seq),
        "name": f"济南示范科技有限公司{seq}",
        "address": "山东省济南市历下区泉城路1号",
        "legal_rep_name": "王建国",
        "contact_name": "李丽",
        "contact_phone": "13800138000",
        "bank_name": "中国工商银行济南分行",
        "bank_account_no": "1602000109000123456",
        "payday": 10,
        "employer_rate": "0.12",
        "member_rate": "0.12",
    }
    data.update(overrides)
    return data


def member_payload(seq: int = 1, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "resident_id": make_resident_id(seq),
        "name": "张三",
        "base_fen": 800_000,
        "phone": "13900139000",
    }
    data.update(overrides)
    return data
