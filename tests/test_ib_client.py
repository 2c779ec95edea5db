"""The IB client choice (``bot/ib/client.py``): ib_insync by default, ib_async on request, one
library per process, and a clear exit 2 when the chosen one is not installed."""

from __future__ import annotations

import sys

import pytest

from bot.app import cli
from bot.ib import client

OTHER = {"ib_insync": "ib_async", "ib_async": "ib_insync"}


@pytest.fixture
def unchosen(monkeypatch):
    """No explicit choice made in this process (as at the start of a test run)."""
    monkeypatch.setattr(client, "_chosen", None)


@pytest.mark.parametrize(("env", "expected"), [
    (None, "ib_insync"),
    ("ib_insync", "ib_insync"),
    ("ib_async", "ib_async"),
    ("", "ib_insync"),
])
def test_without_a_choice_the_environment_decides_and_ib_insync_is_the_default(
    unchosen, monkeypatch, env, expected
) -> None:
    if env is None:
        monkeypatch.delenv(client.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(client.ENV_VAR, env)

    assert client.chosen() == expected


def test_an_unknown_client_in_the_environment_is_refused(unchosen, monkeypatch) -> None:
    monkeypatch.setenv(client.ENV_VAR, "ibapi")

    with pytest.raises(client.ClientUnavailable, match="ib_insync, ib_async"):
        client.chosen()


def test_the_loaded_library_cannot_be_switched_in_the_same_process(unchosen) -> None:
    loaded = client.library().__name__  # translate loaded it when the tests were collected

    client.choose(loaded)  # the same one again: fine
    with pytest.raises(client.ClientUnavailable, match="already loaded"):
        client.choose(OTHER[loaded])

    assert client.chosen() == loaded


def test_the_library_loaded_is_the_one_the_environment_asked_for() -> None:
    # CI runs the broker tests once as is and once with BOT__BROKER__CLIENT=ib_async
    assert client.library().__name__ == client.chosen()
    assert client.objects().__name__ == f"{client.chosen()}.objects"


def test_the_client_loggers_of_both_libraries_are_named() -> None:
    assert client.LOGGERS["ib_async"] == ("ib_async.wrapper", "ib_async.client", "ib_async.ib")
    assert client.LOGGERS["ib_insync"] == ("ib_insync.wrapper", "ib_insync.client", "ib_insync.ib")


@pytest.mark.parametrize("command", [["check-config"], ["run", "--duration", "1"]])
def test_a_chosen_client_that_is_not_installed_exits_2_with_how_to_install_it(
    monkeypatch, capsys, tmp_path, command
) -> None:
    # Arrange: ib_async chosen, but not importable (None in sys.modules: find_spec says absent)
    monkeypatch.setitem(sys.modules, "ib_async", None)
    monkeypatch.setenv("BOT__BROKER__CLIENT", "ib_async")
    monkeypatch.setenv("BOT__LOGGING__DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("BOT__JOURNAL__DIR", str(tmp_path / "data"))
    config = tmp_path / "settings.yaml"
    config.write_text("dry_run: true\n")

    # Act
    with pytest.raises(SystemExit) as exited:
        cli.main([*command, "--config", str(config)])

    # Assert: one clear line, nothing started
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "broker.client is ib_async, but ib_async is not installed" in err
    assert "pip install -e '.[ib-async]'" in err
    assert not (tmp_path / "logs").exists()
    assert not (tmp_path / "data").exists()


def test_check_config_accepts_an_installed_client(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("BOT__BROKER__CLIENT", "ib_async")
    config = tmp_path / "settings.yaml"
    config.write_text("dry_run: true\n")

    code = cli.main(["check-config", "--config", str(config)])

    assert code == 0
    assert '"client": "ib_async"' in capsys.readouterr().out
