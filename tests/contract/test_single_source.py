"""The relay declares no protocol fact of its own: each comes from ``contract.protocol``.

Read from the sources with ``ast`` (nothing is imported to check): a module-level assignment
in service/ may not reuse a contract name (``DEFAULT_ROOM = ...``), nor hold one of the
contract's texts (a path, a pattern, the default room) or close codes under another name;
no string in service/ may spell a contract path or pattern; every error code the relay
sends is one the contract declares.
"""

from __future__ import annotations

import ast
from pathlib import Path

from contract import protocol

REPO = Path(__file__).resolve().parents[2]
SERVICE = REPO / "service"

FACTS = {name: value for name, value in vars(protocol).items() if name.isupper()}
TEXTS = {value for value in FACTS.values() if isinstance(value, str)}
# Words that say what a number is ("MAX_TEXT_CHARS" -> TEXT, "CLOSE_POLICY" -> CLOSE,
# POLICY): a service constant named with one of them and holding the same number is the
# same fact written twice (a histogram bound of 1000 ms is not close code 1000).
GENERIC_WORDS = {"MAX", "CHARS", "PATTERN", "PATH"}
NUMBERS: dict[int, set[str]] = {}  # a contract number -> the words its names say
for _name, _value in FACTS.items():
    if isinstance(_value, int):
        NUMBERS.setdefault(_value, set()).update(set(_name.split("_")) - GENERIC_WORDS)


def module_level_assignments(tree: ast.Module) -> list[tuple[str, ast.expr]]:
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        found += [(target.id, value) for target in targets if isinstance(target, ast.Name)]
    return found


def redeclared(source: str) -> list[str]:
    """The protocol facts a module's top level declares again, as readable lines."""
    wrong = []
    for name, value in module_level_assignments(ast.parse(source)):
        if name in FACTS:
            wrong.append(f"{name} is contract.protocol.{name}")
        for node in ast.walk(value):
            if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
                continue
            if node.value in TEXTS:
                wrong.append(f"{name} holds {node.value!r}, a contract.protocol text")
            elif isinstance(node.value, int) and NUMBERS.get(node.value, set()) & set(
                name.split("_")
            ):
                wrong.append(f"{name} holds {node.value}, a contract.protocol number")
    return wrong


def spelled_texts(source: str) -> list[str]:
    """Contract texts (paths, patterns, the default room) written as string literals
    anywhere in a module (route tables, f-strings), not only at its top level."""
    return [
        repr(node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in TEXTS
    ]


def error_codes_sent(source: str) -> set[str]:
    """The string codes passed to ``ProtocolError(...)`` and ``protocol.error(...)``."""
    codes = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func, first = node.func, node.args[0]
        called = ast.unparse(func)
        if called in ("ProtocolError", "protocol.error") and isinstance(first, ast.Constant):
            codes.add(str(first.value))
    return codes


def service_sources() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text() for p in sorted(SERVICE.rglob("*.py"))}


def test_the_scanner_finds_each_kind_of_redeclaration() -> None:
    source = (
        'DEFAULT_ROOM = "lobby"\n'
        "ROOM = re.compile(r'[a-z0-9][a-z0-9_-]{0,63}')\n"
        "CLOSE_BYE: int = 1013\n"
        "LAG_BOUNDS_MS = (1, 1000)\n"  # a number, not a close code: allowed
        "TEXT_LIMIT = 2000\n"
        "MAX_IDENTITIES = 2000\n"  # the same number for another thing: allowed
        "def f():\n"
        "    LOCAL = 1008\n"  # not module level
    )
    assert redeclared(source) == [
        "DEFAULT_ROOM is contract.protocol.DEFAULT_ROOM",
        "DEFAULT_ROOM holds 'lobby', a contract.protocol text",
        "ROOM holds '[a-z0-9][a-z0-9_-]{0,63}', a contract.protocol text",
        "CLOSE_BYE holds 1013, a contract.protocol number",
        "TEXT_LIMIT holds 2000, a contract.protocol number",
    ]
    assert spelled_texts('Route("/healthz", h)\nurl = f"http://x{port}/readyz"\n') == [
        "'/healthz'",
        "'/readyz'",
    ]
    assert error_codes_sent(
        'raise ProtocolError("bad_frame", "x")\nprotocol.error("oops", "")'
    ) == {
        "bad_frame",
        "oops",
    }


def test_service_declares_no_protocol_fact_again() -> None:
    wrong = {
        path: found for path, source in service_sources().items() if (found := redeclared(source))
    }
    assert wrong == {}


def test_service_spells_no_contract_path_or_pattern() -> None:
    wrong = {
        path: found
        for path, source in service_sources().items()
        if (found := spelled_texts(source))
    }
    assert wrong == {}


def test_service_sends_only_declared_error_codes() -> None:
    sent = set().union(*(error_codes_sent(source) for source in service_sources().values()))
    assert sent, "the scan found no error frame at all: it no longer sees them"
    assert sent <= set(protocol.ERROR_CODES)
