"""Family members' ID numbers in a withdrawal are checked like the member's own (GB 11643).

A number with a wrong check character used to be stored and handed to the registry look-ups;
now the payload (API) and the form (pages) refuse it, naming which number is wrong.
"""

import pytest

from factories import make_resident_id
from hpf.kernel.errors import InvalidInput
from hpf.withdrawals import forms, handler

GOOD = make_resident_id(7)
BAD_CHECK = GOOD[:17] + ("0" if GOOD[17] != "0" else "1")
PAYLOAD = {
    "payee_name": "张三", "payee_card": "6222020200001234560", "payee_bank": "工商银行",
    "document_no": "JN2025-1", "document_date": "2025-03-01", "cost_fen": 300_000,
}  # fmt: skip


def test_valid_family_ids_pass_upper_cased() -> None:
    form = handler.form_of("WD-PURCHASE", {**PAYLOAD, "family_resident_ids": [GOOD.lower()]})
    assert form.family_resident_ids == (GOOD.upper(),)


@pytest.mark.parametrize("bad", [BAD_CHECK, "370102199013070011", "12345678901234567X", 370102199003070015])
def test_a_wrong_family_id_is_refused_in_the_payload(bad: object) -> None:
    with pytest.raises(InvalidInput) as err:
        handler.form_of("WD-PURCHASE", {**PAYLOAD, "family_resident_ids": [GOOD, bad]})
    assert err.value.code == "withdrawal.payload.family_resident_ids"
    assert err.value.extra["field"] == "family_resident_ids" and "第2个" in err.value.title


def test_more_family_members_than_the_form_allows_are_refused() -> None:
    ids = [make_resident_id(i) for i in range(11)]
    with pytest.raises(InvalidInput) as err:
        handler.form_of("WD-PURCHASE", {**PAYLOAD, "family_resident_ids": ids})
    assert err.value.code == "withdrawal.payload.family_resident_ids"


def test_the_page_form_checks_the_check_character_too() -> None:
    typed = {k: str(v) for k, v in PAYLOAD.items()} | {"cost_fen": "3000"}
    with pytest.raises(InvalidInput) as err:
        forms.payload_of("WD-PURCHASE", {**typed, "family_resident_ids": f"{GOOD}\n{BAD_CHECK}"})
    assert err.value.code == "withdrawal.payload.family_resident_ids"
    assert "校验码" in err.value.title
