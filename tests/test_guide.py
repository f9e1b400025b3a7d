"""The guides run as written (docs/envs.md, "Writing your own env"; docs/data.md, "Writing your own generator"):
their files are written, their scripts and snippets run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_MARK = "# file: "


def guide_blocks(document: str, heading: str) -> list[str]:
    text = (ROOT / "docs" / document).read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(?:python|toml)\n(.*?)```", section, re.DOTALL)


def follow(document: str, heading: str, directory: Path) -> int:
    """Write the guide's files into ``directory`` and run its snippets there; how many snippets ran."""
    text = (ROOT / "docs" / document).read_text()
    snippets = 0
    for block in guide_blocks(document, heading):
        if block.startswith(FILE_MARK):
            name, _, body = block[len(FILE_MARK) :].partition("\n")
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            with open(directory / name, "a") as file:
                file.write(body)
            continue
        # Scripts the guide tells you to run (`python name.py`) run before the snippet that follows them.
        for script in re.findall(r"`python (\w+\.py)`", text):
            if (directory / script).exists() and not (directory / f".{script}.ran").exists():
                run([script], directory)
                (directory / f".{script}.ran").touch()
        run(["-c", block], directory)
        snippets += 1
    return snippets


def run(arguments: list[str], directory: Path) -> None:
    result = subprocess.run([sys.executable, *arguments], cwd=directory, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{arguments[:1]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def test_the_guide_builds_its_env_and_the_checkers_accept_it(tmp_path: Path) -> None:
    snippets = follow("envs.md", "Writing your own env", tmp_path)
    assert snippets == 2 and (tmp_path / "reach.py").exists() and (tmp_path / "reach.blend").exists()


def test_the_packaging_guide_makes_its_env_by_module_and_id(tmp_path: Path) -> None:
    assert follow("envs.md", "Packaging envs", tmp_path) == 1 and (tmp_path / "pyproject.toml").exists()


def test_the_generator_guide_streams_its_items(tmp_path: Path) -> None:
    assert follow("data.md", "Writing your own generator", tmp_path) == 2 and (tmp_path / "monkey.py").exists()
