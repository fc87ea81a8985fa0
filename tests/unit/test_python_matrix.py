"""The interpreter matrix tooling: ``.ci/find-python``, ``.ci/test-pythons`` and the Makefile's PY (ADR 0015).

Fake interpreters (shell scripts that answer the version probe) stand in for pyenv installs, so the
lookup order, the refusal of failing shims and wrong versions, and the summary and exit status of a
matrix run are checked without building a virtualenv.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIND_PYTHON = REPO / ".ci" / "find-python"
TEST_PYTHONS = REPO / ".ci" / "test-pythons"
BASE_PATH = "/usr/bin:/bin"


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def fake_python(path: Path, reports: str) -> Path:
    """An "interpreter" that answers a version probe with ``reports`` (and its path, if asked for it)."""
    return _script(path, f'case "$2" in *executable*) echo "{reports} $0";; *) echo "{reports}";; esac')


def failing_shim(path: Path) -> Path:
    """What pyenv's shim does for a version that is installed but not selected."""
    return _script(path, f'echo "pyenv: {path.name}: command not found" >&2; exit 127')


def run(
    args: list[str], *, path: str, pyenv_root: Path, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "PYENV_ROOT": str(pyenv_root), "HOME": str(pyenv_root.parent)}
    env.update(extra or {})
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, cwd=REPO)


@pytest.fixture
def pyenv_root(tmp_path: Path) -> Path:
    """pyenv with 3.11.4, 3.11.7, 3.13.0, 3.13.2, a free-threaded 3.13.1t and a mislabelled 3.13.9."""
    root = tmp_path / "pyenv"
    fake_python(root / "versions/3.11.4/bin/python3.11", "3.11")
    fake_python(root / "versions/3.11.7/bin/python3.11", "3.11")
    fake_python(root / "versions/3.13.0/bin/python3.13", "3.13")
    fake_python(root / "versions/3.13.2/bin/python3.13", "3.13")
    fake_python(root / "versions/3.13.1t/bin/python3.13", "3.13")
    fake_python(root / "versions/3.13.9/bin/python3.13", "3.12")
    return root


@pytest.fixture
def shims(tmp_path: Path) -> Path:
    """A PATH directory whose python3.13 is a failing pyenv shim."""
    directory = tmp_path / "shims"
    failing_shim(directory / "python3.13")
    return directory


def test_a_failing_shim_on_path_falls_back_to_the_newest_matching_pyenv_install(
    pyenv_root: Path, shims: Path
) -> None:
    for spec in ("python3.13", "3.13"):
        result = run([str(FIND_PYTHON), spec], path=f"{shims}:{BASE_PATH}", pyenv_root=pyenv_root)
        assert result.returncode == 0, result.stderr
        # 3.13.9 reports 3.12 and 3.13.1t is not a plain release: 3.13.2 is the newest that fits.
        assert result.stdout.strip() == str(pyenv_root / "versions/3.13.2/bin/python3.13")


def test_an_interpreter_on_path_wins_over_pyenv(pyenv_root: Path, tmp_path: Path) -> None:
    on_path = fake_python(tmp_path / "bin/python3.11", "3.11")
    result = run([str(FIND_PYTHON), "python3.11"], path=f"{on_path.parent}:{BASE_PATH}", pyenv_root=pyenv_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(on_path)


def test_a_wrong_version_on_path_is_refused_and_named(pyenv_root: Path, tmp_path: Path) -> None:
    impostor = fake_python(tmp_path / "bin/python3.14", "3.11")
    result = run([str(FIND_PYTHON), "python3.14"], path=f"{impostor.parent}:{BASE_PATH}", pyenv_root=pyenv_root)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no working Python 3.14" in result.stderr
    assert f"rejected {impostor} reports Python 3.11" in result.stderr


@pytest.mark.parametrize("spec", ["", "rm -rf /", "python2", "3", "../python3.13x"])
def test_a_malformed_spec_is_refused(spec: str, pyenv_root: Path) -> None:
    result = run([str(FIND_PYTHON), spec], path=BASE_PATH, pyenv_root=pyenv_root)
    assert result.returncode in (1, 2)
    assert result.stdout == ""
    assert result.stderr.startswith("find-python: ")


def test_a_path_that_is_not_an_interpreter_is_refused(pyenv_root: Path, tmp_path: Path) -> None:
    not_python = _script(tmp_path / "not-python", "exit 0")
    for spec in (str(not_python), str(tmp_path / "missing/python3")):
        result = run([str(FIND_PYTHON), spec], path=BASE_PATH, pyenv_root=pyenv_root)
        assert result.returncode == 1
        assert "is not a runnable Python interpreter" in result.stderr


def test_this_interpreter_is_found_by_path() -> None:
    result = subprocess.run([str(FIND_PYTHON), sys.executable], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    found = result.stdout.strip()
    probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert probe.stdout.strip() == str(sys.version_info[:2])


def fake_make(tmp_path: Path, failing: str = "") -> Path:
    """A make that prints a pytest-style summary, failing for ``PY=python<failing>``."""
    return _script(
        tmp_path / "fake-make",
        'for arg in "$@"; do case "$arg" in PY=*) py="${arg#PY=}";; esac; done\n'
        f'if [ "$py" = "python{failing}" ]; then echo "1 failed, 9 passed in 1.00s"; exit 1; fi\n'
        'echo "10 passed in 1.00s"',
    )


def test_the_matrix_skips_a_missing_version_and_summarises(pyenv_root: Path, tmp_path: Path) -> None:
    make = fake_make(tmp_path)
    result = run(
        [str(TEST_PYTHONS), "3.11", "3.12", "3.13"], path=BASE_PATH, pyenv_root=pyenv_root, extra={"MAKE": str(make)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    summary = lines[lines.index("=== test-pythons summary") + 1 :]
    assert "3.11" in summary[0] and "ok: 10 passed in 1.00s" in summary[0]
    assert "3.12" in summary[1] and "not installed: skipped" in summary[1]
    assert "3.13" in summary[2] and str(pyenv_root / "versions/3.13.2/bin/python3.13") in summary[2]
    assert lines[-2:] == ["test-pythons: Python versions ok 2, failed 0", "tests: 20 passed, 0 failed"]


def test_the_matrix_fails_when_one_version_fails(pyenv_root: Path, tmp_path: Path) -> None:
    make = fake_make(tmp_path, failing="3.13")
    result = run([str(TEST_PYTHONS), "3.11", "3.13"], path=BASE_PATH, pyenv_root=pyenv_root, extra={"MAKE": str(make)})
    assert result.returncode == 1
    assert "FAILED (exit 1): 1 failed, 9 passed in 1.00s" in result.stdout
    assert result.stdout.splitlines()[-2:] == ["test-pythons: Python versions ok 1, failed 1",
                                              "tests: 19 passed, 1 failed"]


def test_ci_requires_every_listed_version(pyenv_root: Path, tmp_path: Path) -> None:
    make = fake_make(tmp_path)
    result = run(
        [str(TEST_PYTHONS), "3.11", "3.12"],
        path=BASE_PATH,
        pyenv_root=pyenv_root,
        extra={"MAKE": str(make), "REQUIRE_ALL": "1"},
    )
    assert result.returncode == 1
    assert "MISSING (required)" in result.stdout
    assert "no working Python 3.12" in result.stderr


@pytest.mark.parametrize("versions", [[], ["three"], ["3.13; rm -rf /"]])
def test_the_matrix_refuses_bad_arguments(versions: list[str], pyenv_root: Path, tmp_path: Path) -> None:
    make = fake_make(tmp_path)
    result = run([str(TEST_PYTHONS), *versions], path=BASE_PATH, pyenv_root=pyenv_root, extra={"MAKE": str(make)})
    assert result.returncode == 2
    assert "test-pythons" in result.stderr or "usage" in result.stderr


def test_the_matrix_fails_when_nothing_is_installed(pyenv_root: Path, tmp_path: Path) -> None:
    make = fake_make(tmp_path)
    result = run([str(TEST_PYTHONS), "3.12"], path=BASE_PATH, pyenv_root=pyenv_root, extra={"MAKE": str(make)})
    assert result.returncode == 1
    assert "none of 3.12 is installed" in result.stderr


def _clean_environment() -> dict[str, str]:
    """This environment without the variables of a make that may be running this suite."""
    return {key: value for key, value in os.environ.items() if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}


def test_make_gives_each_version_its_own_virtualenv(tmp_path: Path) -> None:
    """`make -n` only prints: the default 3.11 keeps .venv, any other version gets .venv-X.Y."""
    other = fake_python(tmp_path / "bin/python3.13", "3.13")
    default = fake_python(tmp_path / "bin/python3.11", "3.11")
    env = _clean_environment()
    for interpreter, venv in ((other, ".venv-3.13"), (default, ".venv")):
        result = subprocess.run(
            ["make", "-n", "test", f"PY={interpreter}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert f"{venv}/bin/python -m pytest -n 2 " in result.stdout


def test_make_refuses_an_interpreter_it_cannot_find() -> None:
    result = subprocess.run(
        ["make", "venv", "PY=python3.99"], cwd=REPO, env=_clean_environment(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "no working Python 3.99" in result.stderr
    assert "no interpreter for PY=python3.99" in result.stderr


def test_a_virtualenv_of_another_python_is_rebuilt_not_reused(tmp_path: Path) -> None:
    """.venv made by 3.12 (its stamp claims 3.11): `make venv` for 3.11 must rebuild it, not run in it."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        (checkout / name).write_bytes((REPO / name).read_bytes())
    (checkout / ".ci").mkdir()
    for script in ("find-python", "system-deps"):
        target = checkout / ".ci" / script
        target.write_bytes((REPO / ".ci" / script).read_bytes())
        target.chmod(0o755)
    fake_python(checkout / ".venv/bin/python", "3.12")
    stamp = checkout / ".venv/.installed-3.11"
    stamp.write_text("stale\n")
    default = fake_python(tmp_path / "bin/python3.11", "3.11")
    result = subprocess.run(
        ["make", "-n", "venv", f"PY={default}"], cwd=checkout, env=_clean_environment(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert not stamp.exists()
    assert 'test "3.12" != "3.11"' in result.stdout
    assert "rm -rf .venv" in result.stdout


SYSTEM_DEPS = REPO / ".ci" / "system-deps"


def test_system_deps_needs_nothing_where_plyvel_has_a_wheel(tmp_path: Path) -> None:
    python = _script(tmp_path / "python3.12", f'echo "3 12 {tmp_path}/no-include"')
    result = subprocess.run([str(SYSTEM_DEPS), str(python)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")


def test_system_deps_refuses_an_interpreter_without_headers(tmp_path: Path) -> None:
    """A source build of plyvel cannot work without Python.h: say so and stop instead of failing in pip."""
    python = _script(tmp_path / "python3.13", f'echo "3 13 {tmp_path}/no-include"')
    result = subprocess.run([str(SYSTEM_DEPS), str(python)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{python} has no C headers ({tmp_path}/no-include/Python.h)" in result.stderr


def test_system_deps_accepts_this_interpreter_when_its_build_needs_are_met() -> None:
    """For this very interpreter the script must pass: on 3.13 the suite itself runs on the source build."""
    result = subprocess.run([str(SYSTEM_DEPS), sys.executable], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
