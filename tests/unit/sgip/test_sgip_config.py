"""The ``[carriers.<name>.link]`` table of an SGIP link: limits, and the settings it builds."""

from __future__ import annotations

import dataclasses

import pytest

from carriers.link.config import MissingSecret
from carriers.sgip.config import SgipLinkConfig

GOOD = SgipLinkConfig(
    host="10.0.0.5", port=8801, login_name="SP0001", password="submit-pw",
    node_id=3755012345, corp_id="12345", service_type="MNEWS", fee_type=3, fee_value="500",
    listen_port=8802, smg_login_name="UNICOM", smg_password="back-pw", tps=50.0, window=8,
    idle_timeout=30.0,
)


def problem_keys(config: SgipLinkConfig) -> list[str]:
    return [key for key, _ in config.problems()]


def test_a_good_table_has_no_problems() -> None:
    assert GOOD.problems() == []
    assert GOOD.protocol == "sgip"
    assert GOOD.login == "SP0001"
    assert (GOOD.login_key, GOOD.secret_key) == ("login_name", "password")


@pytest.mark.parametrize(("change", "key"), [
    ({"password": None}, "password"),
    ({"smg_password": None}, "smg_password"),
    ({"login_name": "x" * 17}, "login_name"),
    ({"smg_login_name": "联通"}, "smg_login_name"),
    ({"password": "p" * 17}, "password"),
    ({"node_id": 1 << 32}, "node_id"),
    ({"corp_id": "1234"}, "corp_id"),
    ({"service_type": "x" * 11}, "service_type"),
    ({"fee_type": 5}, "fee_type"),
    ({"fee_value": "1234567"}, "fee_value"),
    ({"given_value": "abc"}, "given_value"),
    ({"agent_flag": 2}, "agent_flag"),
    ({"priority": 10}, "priority"),
    ({"listen_port": 0}, "listen_port"),
    ({"idle_timeout": 0}, "idle_timeout"),
    ({"bind_timeout": -1}, "bind_timeout"),
    ({"listener_idle_timeout": -1}, "listener_idle_timeout"),
    ({"port": 70000}, "port"),
])
def test_problems_name_their_key(change: dict, key: str) -> None:
    assert key in problem_keys(dataclasses.replace(GOOD, **change))


def test_passwords_may_come_from_the_environment() -> None:
    config = dataclasses.replace(GOOD, password=None, password_env="SGIP_PW", smg_password=None,
                                 smg_password_env="SGIP_SMG_PW")
    assert config.problems() == []
    environ = {"SGIP_PW": "a", "SGIP_SMG_PW": "b"}
    assert config.resolved_secret(environ) == "a"
    assert config.resolved_smg_password(environ) == "b"
    with pytest.raises(MissingSecret) as missing:
        config.resolved_smg_password({})
    assert missing.value.key == "smg_password_env"
    assert GOOD.resolved_smg_password({}) == "back-pw"


def test_session_settings() -> None:
    settings = GOOD.session_settings("submit-pw", tps_share=0.5)
    assert (settings.login_name, settings.login_password, settings.node_id) == (
        "SP0001", "submit-pw", 3755012345)
    assert (settings.tps, settings.window, settings.idle_timeout) == (25.0, 8, 30.0)
    assert (settings.corp_id, settings.service_type, settings.fee_type,
            settings.fee_value) == ("12345", "MNEWS", 3, "500")
    assert settings.flow().keepalive_interval == 30.0


def test_listener_settings() -> None:
    settings = GOOD.listener_settings("back-pw")
    assert (settings.login_name, settings.login_password, settings.node_id) == (
        "UNICOM", "back-pw", 3755012345)
    assert (settings.bind_timeout, settings.idle_timeout) == (10.0, 600.0)
