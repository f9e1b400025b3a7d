"""docs/protocol.md is the contract between host and Blender: its version, opcodes, header layouts and error
kinds must equal the code's (blender_side/wire.py), so that the document cannot drift from what travels."""

from __future__ import annotations

import re
from pathlib import Path

from blendgym_blender import wire

DOCUMENT = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()


def section(title: str) -> str:
    """The text of the ``## title`` section."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOCUMENT, re.MULTILINE | re.DOTALL)
    assert found is not None, f"docs/protocol.md has no section {title!r}"
    return found[1]


def table_column(text: str, column: int) -> list[str]:
    """The cells of a Markdown table's ``column`` in ``text``, header and rule left out."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [row.split("|")[column + 1].strip() for row in rows[2:]]


def test_the_version_is_the_codes_everywhere_the_document_gives_it() -> None:
    title = re.match(r"# blendgym wire protocol, version (\d+)\n", DOCUMENT)
    assert title is not None and int(title[1]) == wire.PROTOCOL_VERSION
    # The hello request's example and the handshake reply's example.
    assert [int(number) for number in re.findall(r'\{"protocol": (\d+)', DOCUMENT)] == [wire.PROTOCOL_VERSION] * 2
    versions = [int(cell) for cell in table_column(section("Versions"), 0)]
    assert versions == list(range(1, wire.PROTOCOL_VERSION + 1))


def test_the_opcodes_are_the_codes() -> None:
    requests = {cell.strip("`") for cell in table_column(section("Requests (host → Blender)"), 0)}
    replies = {cell.strip("`") for cell in table_column(section("Replies (Blender → host)"), 0)}
    code = {wire.HELLO, wire.RESET, wire.STEP, wire.CLOSE, wire.ATTRIBUTE, wire.IMAGE, wire.WINDOW, wire.ITEM}
    assert {opcode.encode() for opcode in requests} == code
    assert {opcode.encode() for opcode in replies} == code | {wire.ERROR}


def test_the_header_layouts_are_the_codes() -> None:
    replies = section("Replies (Blender → host)")
    # "the fixed header of a step reply is 16 bytes (`<cBBxId`), of a reset reply 8 bytes (`<cxxxI`), ..."
    layouts = {name: (int(size), layout) for name, size, layout in re.findall(r"(\w+) reply (?:is )?(\d+) bytes \(`([^`]+)`\)", replies)}
    code = {"step": wire.STEP_REPLY, "reset": wire.RESET_REPLY, "image": wire.IMAGE_REPLY}
    assert layouts == {name: (layout.size, layout.format) for name, layout in code.items()}
    # A step request: its opcode, then zero bytes up to the alignment, then the action.
    assert f"| `S` | step | {wire.ALIGNMENT - 1} zero bytes, then the action's leaves |" in section("Requests (host → Blender)")
    assert f"each starting {wire.ALIGNMENT}-aligned" in section("Spaces and leaves")


def test_the_error_kinds_are_the_codes() -> None:
    kinds = {cell.strip("`") for cell in table_column(section("Errors"), 0)}
    assert kinds == {wire.ERROR_ENV, wire.ERROR_STATE, wire.ERROR_PROTOCOL, wire.ERROR_ATTRIBUTE, wire.ERROR_START}
