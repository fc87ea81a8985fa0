"""Bad input to ``devnet chaos`` / ``devnet crashtest`` is refused before anything starts (ADR 0016)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.__main__ import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["chaos", "--nodes", "0"], "--nodes must be at least 1"),
        (["chaos", "--duration", "0"], "--duration must be positive"),
        (["chaos", "--interval", "-3"], "--interval must be positive"),
        (["chaos", "--rate", "-1"], "--rate must be 0 (no load) or positive"),
        (["chaos", "--converge-timeout", "0"], "--converge-timeout must be positive"),
        (["chaos", "--nodes", "4", "--byzantine", "2"], "--byzantine must be between 0 and f = 1"),
        (["chaos", "--nodes", "3", "--byzantine", "1"], "--byzantine must be between 0 and f = 0"),
        (["crashtest", "--kills", "0"], "--nodes and --kills must be at least 1"),
        (["crashtest", "--rate", "-5"], "--rate must be 0 (no load) or positive"),
    ],
)
def test_bad_numbers_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_missing_devnet_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chaos", "--dir", str(tmp_path / "nowhere"), "--duration", "5"]) == 1
    assert "no devnet in" in capsys.readouterr().err


def test_byzantine_mode_must_be_known(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["chaos", "--byzantine", "1", "--byzantine-mode", "chatty"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
