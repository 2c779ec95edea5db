"""A deferred package costs nothing until something reads from it, then it is the real one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.deferred_import import defer, is_deferred, load

PACKAGE = "deferred_probe_pkg"


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package that counts its own imports in ``sys.deferred_probe_imports``."""
    root = tmp_path / PACKAGE
    root.mkdir()
    (root / "__init__.py").write_text(
        "import sys\nsys.deferred_probe_imports = getattr(sys, 'deferred_probe_imports', 0) + 1\n"
        "ANSWER = 42\n", encoding="utf-8")
    (root / "sub.py").write_text("VALUE = 'sub'\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "deferred_probe_imports", 0, raising=False)
    for name in (PACKAGE, f"{PACKAGE}.sub"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield root
    for name in (PACKAGE, f"{PACKAGE}.sub"):
        sys.modules.pop(name, None)


def test_importing_a_deferred_package_does_not_run_it(package):
    assert defer(PACKAGE) is True

    import deferred_probe_pkg as probe  # noqa: F401 - the import under test

    assert sys.deferred_probe_imports == 0
    assert is_deferred(PACKAGE)


def test_the_first_attribute_read_imports_the_real_package_once(package):
    defer(PACKAGE)
    import deferred_probe_pkg as probe

    assert (probe.ANSWER, probe.ANSWER) == (42, 42)
    assert sys.deferred_probe_imports == 1
    assert not is_deferred(PACKAGE) and sys.modules[PACKAGE].ANSWER == 42
    assert vars(probe)["ANSWER"] == 42  # later reads no longer go through the stand-in's hook


def test_from_imports_and_submodules_still_work(package):
    defer(PACKAGE)

    from deferred_probe_pkg import ANSWER
    from deferred_probe_pkg.sub import VALUE

    assert (ANSWER, VALUE, sys.deferred_probe_imports) == (42, "sub", 1)


def test_a_package_not_installed_or_already_imported_is_left_alone(package):
    assert defer("no_such_package_anywhere") is False
    assert load(PACKAGE).ANSWER == 42
    assert defer(PACKAGE) is False and not is_deferred(PACKAGE)


@pytest.mark.parametrize("kind, loaded", [("ib", "['numpy']"), ("sim", "[]")])
def test_the_bot_defers_numpy_unless_its_simulator_needs_it(kind, loaded):
    code = ("import sys; from bot.app.config import Settings; "
            "from bot.app.runner import defer_unused_packages; "
            f"defer_unused_packages(Settings.model_validate({{'broker': {{'kind': '{kind}'}}}})); "
            "print(sorted(k for k in sys.modules if k == 'numpy' or k.startswith('numpy.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True, cwd=Path(__file__).resolve().parent.parent)

    assert out.stdout.strip() == loaded  # ib: the stand-in only; sim: imported when used


@pytest.mark.parametrize("client_name", ["ib_insync", "ib_async"])
def test_the_broker_imports_without_loading_numpy_once_deferred(client_name):
    # eventkit (ib_insync) and aeventkit (ib_async, same package name) both import numpy
    code = ("import sys; from bot.app.deferred_import import defer; defer('numpy'); "
            "import actors.broker.actor; "
            "print(sorted(k for k in sys.modules if k == 'numpy' or k.startswith('numpy.')), "
            "sorted(k for k in sys.modules if k in ('ib_insync', 'ib_async')))")
    env = {**os.environ, "BOT__BROKER__CLIENT": client_name}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60, check=True, cwd=Path(__file__).resolve().parent.parent)

    # the stand-in only, none of numpy's modules; and only the chosen client was imported
    assert out.stdout.strip() == f"['numpy'] ['{client_name}']"
