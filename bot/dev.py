"""`hitl dev`: the real bot and a loopback Slack emulator with a browser UI, in one process.

The bot runs the `hitl serve` code path unchanged; only SLACK_API_URL points at the emulator, which signs its
requests with a secret generated for this run. Nothing here is imported by `hitl serve`.
This is the adapter between hitl and `slack_emulator`: the one module of hitl that imports it (pyproject.toml's
import contracts hold everything else to that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.clock import OffsetClock
from bot.compose import Hitl
from bot.config import Settings
from bot.policy import GROUP_ID, Policy
from bot.server import create_asgi_app
from bot.startup import start_hitl
from slack_emulator import Emulator, SlackRequestSender, serve_emulator
from slack_emulator.ui import create_ui_routes
from slack_emulator.webapi import require_loopback, serve_asgi
from store import outbox as outbox_store
from store.migrate import upgrade_async

log = logging.getLogger(__name__)

SAMPLE_POLICY = Path(__file__).parent / "samples" / "dev-policy.yml"
OUTSIDER = "U0OUTSIDER"
_FIRST_NAMES = ["dana", "li", "sam", "noor", "alex", "mika", "jo", "ren", "kai", "ada", "ola", "tim"]


@dataclass
class DevWorkspace:
    """Who and where the emulated workspace has, derived from the policy; and the dev clock controls.

    `hitl` and `bot_url` are attached once the bot is up (the bot needs the emulator's URL first).
    """

    policy: Policy
    clock: OffsetClock
    emulator: Emulator
    hitl: Hitl | None = None
    bot_url: str = ""

    def __post_init__(self) -> None:
        self._roles: dict[str, list[str]] = {}
        self._group_members: dict[str, list[str]] = {}
        policy = self.policy
        for queue in policy.queues:
            for number, tier in enumerate(queue.tiers, start=1):
                for principal in tier.reviewers:
                    for user in self._expand(principal):
                        self._roles.setdefault(user, []).append(f"{queue.name} tier {number} reviewer")
        if policy.ops:
            for principal in policy.ops.operators:
                for user in self._expand(principal):
                    self._roles.setdefault(user, []).append("operator")
        self._roles.setdefault(OUTSIDER, [])
        for index, user in enumerate(self._roles):
            name = (
                "outsider"
                if user == OUTSIDER
                else _FIRST_NAMES[index % len(_FIRST_NAMES)]
                + (str(index // len(_FIRST_NAMES)) if index >= len(_FIRST_NAMES) else "")
            )
            self.emulator.workspace.add_user(user, name=name, real_name=name.capitalize())
        for group, members in self._group_members.items():
            self.emulator.workspace.add_usergroup(group, members)
        for channel in self.channels():
            self.emulator.workspace.add_channel(channel["id"], channel["name"])

    def _expand(self, principal: str) -> list[str]:
        if not GROUP_ID.match(principal):
            return [principal]
        members = self._group_members.setdefault(principal, [f"U{principal[1:]}{n}" for n in (1, 2)])
        return members

    def users(self) -> list[dict[str, Any]]:
        return [
            {"id": user, "name": self.emulator.workspace.users[user]["name"], "roles": roles}
            for user, roles in self._roles.items()
        ]

    def channels(self) -> list[dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for queue in self.policy.queues:
            for number, tier in enumerate(queue.tiers, start=1):
                found.setdefault(
                    tier.channel,
                    {
                        "id": tier.channel,
                        "name": f"{queue.name}-tier{number}",
                        "purpose": f"{queue.name} tier {number}: {tier.name}",
                    },
                )
        if self.policy.ops:
            found.setdefault(
                self.policy.ops.channel,
                {"id": self.policy.ops.channel, "name": "hitl-ops", "purpose": "announcements and unhandled alerts"},
            )
        return list(found.values())

    def now(self) -> datetime:
        return self.clock.now()

    async def advance(self, seconds: float) -> None:
        """Jump the bot's clock, then do at once what the scheduler would: sweep and deliver."""
        assert self.hitl is not None
        self.clock.advance(timedelta(seconds=seconds))
        # Until the workflow settles: a page leads to a card update and a thread note, each its own delivery.
        for _ in range(20):
            moved = await self.hitl.sweep.run()
            await self.hitl.outbox.drain()
            async with self.hitl.db.read() as session:
                busy = await outbox_store.count_pending_now(session, self.clock.now())
            if not moved and not busy:
                return
            await asyncio.sleep(0.05)


def seed_escalations(now: datetime) -> list[dict[str, Any]]:
    """A handful of realistic escalations so the workspace is not empty."""
    stamp = now.strftime("%H%M%S")
    long_draft = "\n\n".join(
        f"{n}. "
        + "Under the 2026 data retention policy, customer records are kept for seven years after the account closes, "
        "then anonymised; exports requested before closure are delivered within 30 days in a machine-readable format. "
        * 4
        for n in range(1, 13)
    )
    return [
        {
            "case_id": f"refund-1042-{stamp}",
            "tenant_id": "acme",
            "skill": "billing",
            "user_question": "I was charged twice for invoice 1042. Can I get my money back?",
            "model_draft": (
                "Yes. I can see two charges of $49.00 for invoice 1042. I've refunded the duplicate; "
                "it shows on your statement in 3–5 business days."
            ),
            "evidence": [
                {
                    "document_id": "kb/refunds-duplicate-charges",
                    "quote": "Duplicate charges are refunded in full to the original payment method.",
                    "score": 0.93,
                    "url": "https://kb.example.com/refunds",
                },
                {"document_id": "ledger/inv-1042", "quote": "2 captures of 49.00 USD on 2026-11-20", "score": 0.88},
            ],
            "risk_level": "medium",
            "reason_for_escalation": "Refund above the $25 automatic limit",
            "model": {"name": "support-gpt", "version": "2026-11"},
            "confidence": 0.71,
            "impact": {"dollars": 49.0, "users_affected": 1},
            "proposed_action": {
                "action": "refund",
                "args": {"invoice": "1042", "amount": 49.0, "currency": "USD", "notify_customer": True},
            },
        },
        {
            "case_id": f"legal-gdpr-{stamp}",
            "tenant_id": "globex",
            "skill": "legal",
            "risk_level": "high",
            "user_question": "Do you share my data with advertisers, and can I make you delete it?",
            "model_draft": (
                "We never share personal data with advertisers. You can ask us to delete your data at any time "
                "under GDPR Article 17; we complete erasure within 30 days."
            ),
            "evidence": [
                {
                    "document_id": "policy/privacy-v7#sharing",
                    "quote": "We do not sell or share personal data with advertising partners.",
                    "score": 0.81,
                }
            ],
            "reason_for_escalation": "Legal commitment in a customer-facing answer (GDPR)",
            "model": {"name": "support-gpt", "version": "2026-11"},
            "confidence": 0.64,
            "impact": {"compliance_risk": "GDPR"},
        },
        {
            "case_id": f"retention-long-{stamp}",
            "tenant_id": "initech",
            "skill": "policy",
            "user_question": "Summarise your data retention policy for our audit.",
            "model_draft": long_draft,
            "reason_for_escalation": "Long answer quoting policy: needs a human read-through",
            "model": {"name": "support-gpt", "version": "2026-11"},
            "confidence": 0.55,
        },
        {
            "case_id": f"sec-key-{stamp}",
            "tenant_id": "acme",
            "skill": "security",
            "risk_level": "critical",
            "user_question": "Our API key may have leaked in a public repo. Please disable it.",
            "model_draft": (
                "I've disabled API key ak_live_7f3 for tenant acme and issued a replacement; "
                "update your deployment with the new key."
            ),
            "reason_for_escalation": "Destructive action on a production credential",
            "sla_deadline": (now + timedelta(minutes=30)).isoformat(),
            "model": {"name": "secops-agent", "version": "1.4"},
            "confidence": 0.8,
            "signals": {"leak_source": "github", "key_age_days": 213},
            "proposed_action": {
                "action": "disable_api_key",
                "args": {"key_id": "ak_live_7f3", "tenant": "acme", "issue_replacement": True},
            },
        },
    ]


def dev_settings(db_path: Path, emulator_url: str, api_token: str, signing_secret: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        SLACK_BOT_TOKEN="xoxb-hitl-dev",
        SLACK_SIGNING_SECRET=signing_secret,
        SLACK_API_URL=f"{emulator_url}/api/",
        HITL_DATABASE_URL=f"sqlite+aiosqlite:///{db_path}",
        HITL_API_TOKEN=api_token,
        HITL_OUTBOX_POLL_SECONDS=0.5,
        HITL_SLACK_CHANNEL_RATE=20,
        # Everything runs on this machine, webhook receivers included.
        HITL_WEBHOOK_ALLOW_PRIVATE=True,
    )


async def run_dev(
    policy: Policy,
    policy_source: str,
    *,
    host: str,
    port: int,
    db_path: Path,
    seed: bool,
    api_token: str,
    ready: asyncio.Event | None = None,
) -> None:
    require_loopback(host)
    signing_secret = secrets.token_hex(16)
    emulator = Emulator(strict_triggers=True)
    workspace = DevWorkspace(policy, OffsetClock(), emulator)
    # Messages carry the bot's clock, so "advance time" shows on the page as it does in the bot.
    emulator.workspace.wall_clock = lambda: workspace.clock.now().timestamp()
    await upgrade_async(f"sqlite+aiosqlite:///{db_path}")
    routes = create_ui_routes(
        emulator,
        sender_factory=lambda: SlackRequestSender(workspace.bot_url, signing_secret, emulator),
        controls=workspace,
    )
    async with serve_emulator(emulator, host=host, port=port, extra_routes=routes) as api_url:
        emulator_url = api_url.removesuffix("/api/")
        hitl = await start_hitl(dev_settings(db_path, emulator_url, api_token, signing_secret), policy, workspace.clock)
        workspace.hitl = hitl
        async with serve_asgi(create_asgi_app(hitl), host=host, port=0, lifespan="on") as bot_url:
            workspace.bot_url = bot_url
            if seed:
                async with httpx.AsyncClient(base_url=bot_url, headers={"Authorization": f"Bearer {api_token}"}) as api:
                    for body in seed_escalations(workspace.clock.now()):
                        response = await api.post("/v1/escalations", json=body)
                        if response.status_code >= 300:
                            log.warning("seed %s: %s %s", body["case_id"], response.status_code, response.text)
            print(
                f"\nhitl dev is running\n"
                f"  workspace  {emulator_url}/   (open it in a browser)\n"
                f"  bot API    {bot_url}/v1/escalations   Authorization: Bearer {api_token}\n"
                f"  database   {db_path}\n"
                f"  policy     {policy_source}\n"
                f"Ctrl-C to stop.\n",
                flush=True,
            )
            if ready is not None:
                ready.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
