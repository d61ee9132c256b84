"""The hub link is wired at start: a center without a hub works alone, one with a hub URL but no
keys does not start, and every declared message handler has a body model."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hpf import bootstrap
from hpf.cli import app as hpf_cli
from hpf.kernel.errors import HpfError
from hpf.messages.keys import KeyPair
from hpf.settings import Settings
from hpf.transfers import link, process

HUB = KeyPair.generate()


def test_a_center_without_a_hub_works_alone_and_refuses_to_send():
    deps = bootstrap.build(Settings(database_url="sqlite://", env="development"))
    assert deps.hub_link is None
    bootstrap.install(deps)
    with pytest.raises(HpfError) as refused:
        link.current_link()
    assert (refused.value.code, refused.value.status) == ("transfers.hub_unconfigured", 409)


def test_a_hub_url_without_keys_refuses_to_start(tmp_path):
    public = HUB.public()
    for missing in (
        {"message_key_file": None, "hub_public_keys": f"{public.sign}:{public.encrypt}"},
        {
            "message_key_file": str(tmp_path / "none.json"),
            "hub_public_keys": f"{public.sign}:{public.encrypt}",
        },
        {"message_key_file": str(tmp_path / "keys.json"), "hub_public_keys": public.sign},
    ):
        KeyPair.generate().write(tmp_path / "keys.json")
        settings = Settings(database_url="sqlite://", env="development", hub_url="http://hub", **missing)
        with pytest.raises(HpfError) as refused:
            bootstrap.build(settings)
        assert refused.value.code in {"transfers.hub_misconfigured", "message.key_invalid"}


def test_the_link_is_built_from_the_settings(tmp_path):
    keys = KeyPair.generate()
    keys.write(tmp_path / "keys.json")
    public = HUB.public()
    settings = Settings.from_env(
        {
            "HPF_ENV": "development",
            "HPF_CENTER_CODE": "330100",
            "HPF_HUB_URL": "http://127.0.0.1:8100/",
            "HPF_HUB_PUBLIC_KEYS": f"{public.sign}:{public.encrypt}",
            "HPF_MESSAGE_KEY_FILE": str(tmp_path / "keys.json"),
        }
    )
    built = bootstrap.build(settings).hub_link
    assert built is not None
    assert (built.center_code, built.hub_code, built.hub_url) == ("330100", "000000", "http://127.0.0.1:8100")
    assert built.keys.public() == keys.public() and built.hub_sign_key == HUB.sign_public


def test_every_message_handler_has_a_body_model_and_an_undefined_one_is_refused():
    declared = bootstrap.message_handlers()
    assert set(declared) == {
        ("BDC909", True), ("BDC904", False), ("BDC904", True),
        *((t, answer) for t in ("BDC901", "BDC903", "BDC905") for answer in (False, True)),
        ("SUP201", False), ("SUP212", False),  # supervision (decision 0040)
    }  # fmt: skip
    assert declared[("BDC904", False)] is process.status_asked
    with pytest.raises(HpfError) as refused:
        bootstrap.check(
            bootstrap.item_handlers(), bootstrap.listeners(), {**declared, ("BDC906", True): print}
        )
    assert refused.value.code == "wiring.incomplete" and "BDC906" in refused.value.detail


def test_hub_commands_keygen_register_suspend_and_list(tmp_path):
    runner = CliRunner()
    env = {"HPF_DATABASE_URL": f"sqlite:///{tmp_path}/hub.sqlite3", "HPF_ENV": "development"}
    made = runner.invoke(hpf_cli, ["transfers", "keygen", "--out", str(tmp_path / "a.json")], env=env)
    assert made.exit_code == 0, made.output
    public = made.output.strip()
    assert public == "{0.sign}:{0.encrypt}".format(KeyPair.from_file(tmp_path / "a.json").public())
    again = runner.invoke(hpf_cli, ["transfers", "keygen", "--out", str(tmp_path / "a.json")], env=env)
    assert again.exit_code == 2  # keys are never overwritten
    register = ["hub", "register-center", "--code", "330100", "--name", "杭州住房公积金管理中心",
                "--province", "浙江", "--endpoint", "http://127.0.0.1:8001", "--public-keys", public]  # fmt: skip
    assert runner.invoke(hpf_cli, register, env=env).exit_code == 0
    twice = runner.invoke(hpf_cli, register, env=env)
    assert twice.exit_code == 2 and "hub.center_exists" in twice.output
    bad = runner.invoke(hpf_cli, [*register[:-1], "00:11"], env=env)
    assert bad.exit_code == 2
    assert runner.invoke(hpf_cli, ["hub", "set-center-state", "330100", "suspended"], env=env).exit_code == 0
    listed = runner.invoke(hpf_cli, ["hub", "centers"], env=env)
    assert listed.output.split("\t")[:3] == ["330100", "suspended", "浙江"]
    unknown = runner.invoke(hpf_cli, ["hub", "set-center-state", "110000", "active"], env=env)
    assert unknown.exit_code == 2 and "hub.center_unknown" in unknown.output
