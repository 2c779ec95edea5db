"""``python -m bot gateway --faults FILE``: a bad faults file is exit 2 naming the field, before
the gateway starts (never a traceback in the middle of a run)."""

from __future__ import annotations

import pytest

from bot.sim.cli import faults_problems, main

GOOD = """\
- {after_wall_seconds: 5, action: farm_status, args: {code: 2103}}
- {at_sim_seconds: 60, action: partial_fills, args: {'on': true, chunk: 2}}
- {at_sim_seconds: 60, action: connectivity, args: {code: 1100}}
"""


@pytest.mark.parametrize(("text", "problem"), [
    ("- {after_wall_seconds: 1, action: explode}\n", "fault #0: unknown action 'explode'"),
    ("- {after_wall_seconds: 1, action: connectivity, args: {code: 999}}\n",
     "fault #0 (connectivity): args: connectivity code must be one of"),
    ("- {after_wall_seconds: 1, action: farm_status, args: {code: abc}}\n",
     "fault #0 (farm_status): args: farm status code must be one of"),
    ("- {after_wall_seconds: 1, action: partial_fills, args: {on: true}}\n",
     "fault #0 (partial_fills): args key True is not a name (YAML reads a bare on/off/yes/no"),
    ("- {after_wall_seconds: 1, action: drop_next, args: {colour: red}}\n",
     "fault #0 (drop_next): args: missing a required argument: 'request'"),
    ("- {action: drop_all_connections}\n", "give exactly one of at_sim_seconds"),
    ("- [unclosed\n", "not valid YAML"),
])
def test_a_bad_faults_file_exits_2_naming_the_field(tmp_path, capsys, text, problem):
    path = tmp_path / "faults.yaml"
    path.write_text(text)

    code = main(["--port", "0", "--faults", str(path)])

    assert code == 2
    assert problem in capsys.readouterr().err


def test_a_missing_faults_file_exits_2_naming_it(tmp_path, capsys):
    code = main(["--port", "0", "--faults", str(tmp_path / "nope.yaml")])

    assert code == 2
    assert f"faults file not found: {tmp_path / 'nope.yaml'}" in capsys.readouterr().err


def test_a_good_faults_file_has_no_problems(tmp_path):
    path = tmp_path / "faults.yaml"
    path.write_text(GOOD)

    assert faults_problems(path) == []


def test_the_help_documents_the_format(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])

    out = " ".join(capsys.readouterr().out.split())
    assert "at_sim_seconds: S | after_wall_seconds: S, action: NAME, args:" in out
    assert "YAML reads a bare on: as true" in out
