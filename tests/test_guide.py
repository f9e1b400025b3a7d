"""docs/envs.md, "Writing your own env", run as written: its files are written, its scripts and snippets run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_MARK = "# file: "


def guide_blocks() -> list[str]:
    text = (ROOT / "docs" / "envs.md").read_text()
    section = text.split("## Writing your own env", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def run(arguments: list[str], directory: Path) -> None:
    result = subprocess.run([sys.executable, *arguments], cwd=directory, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{arguments[:1]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


def test_the_guide_builds_its_env_and_the_checkers_accept_it(tmp_path: Path) -> None:
    blocks = guide_blocks()
    text = (ROOT / "docs" / "envs.md").read_text()
    snippets = 0
    for block in blocks:
        if block.startswith(FILE_MARK):
            name, _, body = block[len(FILE_MARK) :].partition("\n")
            with open(tmp_path / name, "a") as file:
                file.write(body)
            continue
        # Scripts the guide tells you to run (`python name.py`) run before the snippet that follows them.
        for script in re.findall(r"`python (\w+\.py)`", text):
            if (tmp_path / script).exists() and not (tmp_path / f".{script}.ran").exists():
                run([script], tmp_path)
                (tmp_path / f".{script}.ran").touch()
        run(["-c", block], tmp_path)
        snippets += 1
    assert snippets == 2 and (tmp_path / "reach.py").exists() and (tmp_path / "reach.blend").exists()
