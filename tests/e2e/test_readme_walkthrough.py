"""The README walkthrough runs as written (issue 16, part 2): every ``sh`` block marked
``<!-- walkthrough -->`` in README.md, in order, in one bash (``-euo pipefail``) in an empty directory
whose ``.venv`` is this interpreter's virtualenv, exactly as on a fresh clone after ``make venv``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, devnet_cli

MARK = "<!-- walkthrough -->"
BLOCK = re.compile(re.escape(MARK) + r"\s*```sh\n(.*?)```", re.S)
CAST_FILES = ("registrar", "owner", "appraiser", "bank", "customs", "recipient")


def walkthrough_blocks(readme: str) -> list[str]:
    """The marked ``sh`` blocks of ``readme``, in order."""
    return BLOCK.findall(readme)


def test_the_marked_blocks_are_found_and_use_real_names() -> None:
    blocks = walkthrough_blocks((REPO / "README.md").read_text())
    assert len(blocks) >= 4
    script = "\n".join(blocks)
    assert script.lstrip().startswith(".venv/bin/python -m devnet up")
    assert script.rstrip().endswith(".venv/bin/python -m devnet down --dir .devnet")
    used = set(re.findall(r"\.devnet/cast/([a-z]+)\.json", script))
    assert used and used <= set(CAST_FILES)  # only key files devnet up writes
    assert "silkport verify" in script and "activate" not in script


def test_extraction_ignores_unmarked_blocks() -> None:
    text = "```sh\nrm -rf /\n```\n" + MARK + "\n```sh\necho one\n```\n```sh\necho two\n```\n"
    assert walkthrough_blocks(text) == ["echo one\n"]


@pytest.mark.blackbox
def test_readme_walkthrough_runs_copy_paste(tmp_path: Path) -> None:
    script = "\n".join(walkthrough_blocks((REPO / "README.md").read_text()))
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "walkthrough.sh").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILKPORT_") and k != "VIRTUAL_ENV"}
    try:
        result = subprocess.run(["bash", "-euo", "pipefail", "walkthrough.sh"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=150)
    finally:
        if (tmp_path / ".devnet" / "devnet.json").exists():
            devnet_cli("down", "--dir", tmp_path / ".devnet")
    assert result.returncode == 0, f"walkthrough failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    out = result.stdout
    assert "cast enrolled in 16 governance transactions" in out
    for name in CAST_FILES:
        assert f".devnet/cast/{name}.json" in out  # devnet keys lists the files the walkthrough uses
    assert "ACKNOWLEDGED" in out
    assert out.count("valid: ") == 2  # the receipt and the bundle verify offline
    assert "stopped" in out
