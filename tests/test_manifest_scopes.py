"""manifest.yml asks for every bot scope the code needs: the Web API methods hitl calls are read from the product
code itself (ast), mapped to Slack method names through slack-sdk's own client, and each method's scopes come
from the table the emulator enforces (slack_emulator/scopes.py; its own tests check it against Slack's spec)."""

from __future__ import annotations

import ast
import inspect
from functools import cache
from pathlib import Path

import yaml
from slack_sdk.web import async_client

from slack_emulator.scopes import EXTRA_SCOPES, METHOD_SCOPES

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("bot", "handlers", "blocks", "store")
# The product calls these whatever else it calls: if the scan finds none of them, the scan is broken.
SURELY_CALLED = {
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "views.open",
    "usergroups.users.list",
    "conversations.info",
    "files.completeUploadExternal",
}


@cache
def client_methods() -> dict[str, frozenset[str]]:
    """slack-sdk's AsyncWebClient: each public method → the Web API methods it calls (`self.api_call("x.y")`),
    following calls to its own other methods
    (files_upload_v2 → files.getUploadURLExternal + files.completeUploadExternal)."""
    tree = ast.parse(inspect.getsource(async_client))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "AsyncWebClient")
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for fn in cls.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        direct[fn.name], calls[fn.name] = set(), set()
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"
            ):
                if (
                    node.func.attr == "api_call"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    direct[fn.name].add(node.args[0].value)
                else:
                    calls[fn.name].add(node.func.attr)

    def resolve(name: str, seen: frozenset[str]) -> set[str]:
        found = set(direct.get(name, ()))
        for other in calls.get(name, ()):
            if other in direct and other not in seen:
                found |= resolve(other, seen | {other})
        return found

    return {name: frozenset(resolve(name, frozenset({name}))) for name in direct if not name.startswith("_")}


def product_files() -> list[Path]:
    return sorted(p for package in PRODUCT for p in (ROOT / package).rglob("*.py"))


def methods_called() -> dict[str, set[str]]:
    """Web API method → the product files calling it, for every `anything.<slack-sdk method>(…)` call."""
    table = client_methods()
    found: dict[str, set[str]] = {}
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and table.get(node.func.attr):
                for method in table[node.func.attr]:
                    found.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return found


def manifest_bot_scopes() -> set[str]:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    return set(manifest["oauth_config"]["scopes"]["bot"])


def test_the_scan_finds_what_hitl_surely_calls() -> None:
    assert client_methods()["files_upload_v2"] >= {"files.getUploadURLExternal", "files.completeUploadExternal"}
    assert client_methods()["chat_postMessage"] == {"chat.postMessage"}
    found = methods_called()
    assert set(found) >= SURELY_CALLED, SURELY_CALLED - set(found)


def test_the_manifest_asks_for_every_scope_the_code_needs() -> None:
    granted = manifest_bot_scopes()
    called = methods_called()
    unknown = sorted(set(called) - set(METHOD_SCOPES))
    assert not unknown, f"add these methods' scopes to slack_emulator/scopes.py: {unknown}"
    missing = {
        method: sorted(set(METHOD_SCOPES[method]) - granted)
        for method in called
        if set(METHOD_SCOPES[method]) - granted
    }
    assert not missing, f"manifest.yml lacks scopes for: {missing} (called from {[sorted(called[m]) for m in missing]})"
    # Not tied to a method: posting where the bot was not invited, and the /hitl command.
    assert set(EXTRA_SCOPES) <= granted


def test_the_manifest_asks_for_nothing_the_code_does_not_use() -> None:
    needed = {scope for method in methods_called() for scope in METHOD_SCOPES.get(method, ())} | set(EXTRA_SCOPES)
    assert manifest_bot_scopes() - needed == set()
