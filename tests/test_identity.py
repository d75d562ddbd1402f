"""Class 7 of issue 12: identity is checked, not assumed. Requests from another workspace or organization, or
without a Slack user ID, are refused and audited; user-group membership that Slack can't confirm grants rights
for a bounded time only; every refused attempt (clicks, modal submissions, commands) leaves an audit row."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from blocks.ids import ActionId, InputId
from bot.identity import Origin, Refused, SlackIdentity, origin_problem
from bot.services.reviewers import FRESH_FOR, STALE_GRACE, ReviewerDirectory
from slack_emulator import Emulator, SlackRequestSender
from store.models import AuditEvent
from tests.support import SIGNING_SECRET, Harness, issue_policy, make_emulator, serve_hitl
from tests.test_review_loop import ephemerals_for, open_modal

HOME = SlackIdentity(team_id="T0HITL", bot_user_id="U0HITLBOT", team_name="HITL Emulator")
GRID = SlackIdentity(team_id="T0HITL", bot_user_id="U0HITLBOT", enterprise_id="E0ORG")


@pytest.mark.parametrize(
    "installed, origin, expected",
    [
        (HOME, Origin("U0SME1", "T0HITL", "T0HITL"), None),
        (HOME, Origin("W0GRID1", "T0HITL", None), None),  # slash commands carry no user.team_id
        (HOME, Origin("U0SME1", "T0OTHER", "T0OTHER"), Refused.OTHER_WORKSPACE),
        (HOME, Origin("U0GUEST", "T0HITL", "T0PARTNER"), Refused.OTHER_WORKSPACE),  # Slack Connect guest
        (HOME, Origin("U0SME1", None, "T0HITL"), Refused.NO_WORKSPACE),
        (HOME, Origin("U0SME1", "T0HITL", "T0HITL", "E0ELSE"), Refused.OTHER_ORGANIZATION),
        (HOME, Origin("", "T0HITL", "T0HITL"), Refused.NOT_A_USER),
        (HOME, Origin("B0BOT", "T0HITL", "T0HITL"), Refused.NOT_A_USER),
        (HOME, Origin("u0lower", "T0HITL", "T0HITL"), Refused.NOT_A_USER),
        (HOME, Origin("U" + "1" * 40, "T0HITL", "T0HITL"), Refused.NOT_A_USER),
        (GRID, Origin("W0GRID1", "T0HITL", "E0ORG", "E0ORG"), None),  # Grid reports the org's ID as user.team_id
        (GRID, Origin("W0GRID1", "T0HITL", "T0HITL", "E0ORG"), None),
        (GRID, Origin("W0GRID1", "T0HITL", "E0ORG", None), Refused.OTHER_ORGANIZATION),
        (GRID, Origin("W0GRID1", "T0SISTER", "E0ORG", "E0ORG"), Refused.OTHER_WORKSPACE),  # same org, other workspace
    ],
)
def test_origin_rules(installed: SlackIdentity, origin: Origin, expected: Refused | None) -> None:
    assert origin_problem(installed, origin) is expected


async def audit_rows(h: Harness, action: str) -> list[AuditEvent]:
    async with h.rt.db.write() as session:
        return list(
            (
                await session.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
            ).scalars()
        )


async def wait_for_rows(h: Harness, action: str, count: int) -> list[AuditEvent]:
    for _ in range(500):
        rows = await audit_rows(h, action)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} {action} row(s), have {len(await audit_rows(h, action))}")


def stranger(h: Harness, **origin: Any) -> SlackRequestSender:
    return SlackRequestSender(h.url, SIGNING_SECRET, h.emulator, **origin)


async def test_the_runtime_knows_its_workspace_from_auth_test(hitl: Harness) -> None:
    identity = hitl.rt.identity
    assert identity is not None and (identity.team_id, identity.bot_user_id) == ("T0HITL", "U0HITLBOT")
    assert identity.scopes is not None and "chat:write" in identity.scopes
    assert hitl.emulator.calls_to("auth.test")


async def test_a_click_from_another_workspace_is_refused_and_audited(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    async with stranger(hitl, team_id="T0OTHER") as other:
        response = await other.click("U0SME1", card.channel, card.ts, ActionId.APPROVE.value)
    assert response.status_code == 200
    [text] = await ephemerals_for(hitl, "U0SME1")
    assert "only its members can act on it" in text and "HITL Emulator" in text
    assert hitl.emulator.calls_to("views.open") == []
    [row] = await wait_for_rows(hitl, "unauthorized_attempt", 1)
    assert row.case_id == "case-1" and row.actor_id == "U0SME1" and row.actor_team == "T0OTHER"
    assert (
        row.details["reason"] == "other_workspace"
        and row.details["team_id"] == "T0OTHER"
        and row.details["attempted"] == ActionId.APPROVE.value
    )
    assert (await hitl.status("case-1"))["status"] == "pending"


async def test_a_slack_connect_guest_in_a_shared_channel_is_refused(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    # The payload's workspace is ours (the shared channel lives here); the user's home workspace is not.
    async with stranger(hitl, user_team_id="T0PARTNER") as guest:
        await guest.click("U0SME1", card.channel, card.ts, ActionId.CLAIM.value)
    await ephemerals_for(hitl, "U0SME1")
    [row] = await wait_for_rows(hitl, "unauthorized_attempt", 1)
    assert (row.details["reason"], row.details["user_team_id"], row.details["attempted"]) == (
        "other_workspace",
        "T0PARTNER",
        "claim",
    )
    assert (await hitl.status("case-1"))["claimed_by"] is None


async def test_a_request_without_a_user_id_is_refused(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    await hitl.slack.click("B0SOMEBOT", card.channel, card.ts, ActionId.APPROVE.value)
    [row] = await wait_for_rows(hitl, "unauthorized_attempt", 1)
    assert row.details["reason"] == "not_a_slack_user_id"
    assert hitl.emulator.calls_to("views.open") == []


async def test_a_modal_submitted_from_another_workspace_is_refused_and_audited(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    async with stranger(hitl, team_id="T0OTHER") as other:
        response = await other.submit_view("U0SME1", view["id"], {})
    assert response.status_code == 200 and response.json()["response_action"] == "update"
    assert "only its members" in str(response.json()["view"])
    rows = await wait_for_rows(hitl, "unauthorized_attempt", 1)
    assert [(r.details["reason"], r.details["attempted"]) for r in rows] == [("other_workspace", "approved")]
    assert (await hitl.status("case-1"))["status"] == "pending"


async def test_enterprise_grid_members_decide_and_other_organizations_do_not(db_url: str, clock: Any) -> None:
    emulator = make_emulator()
    emulator.workspace.enterprise_id = "E0ORG"
    async with serve_hitl(db_url, emulator, clock) as h:
        assert h.rt.identity is not None and h.rt.identity.enterprise_id == "E0ORG"
        await h.escalate()
        card = await h.card("case-1")
        async with stranger(h, team_id="T0HITL", enterprise_id="E0OTHERORG") as outsider:
            await outsider.click("W0OUTSIDE", card.channel, card.ts, ActionId.APPROVE.value)
        [row] = await wait_for_rows(h, "unauthorized_attempt", 1)
        assert row.details["reason"] == "other_organization"
        # A member of the org: user.team_id is the org's E… ID, as Slack sends it on Grid.
        view = await open_modal(h, "U0SME1", "case-1", ActionId.APPROVE)
        await h.slack.submit_view("U0SME1", view["id"], {})
        status = await h.status("case-1")
        assert status["status"] == "approved" and status["decision"]["decided_by"]["slack_team_id"] == "T0HITL"


async def test_slash_commands_from_another_workspace_are_refused_and_audited(hitl: Harness) -> None:
    async with stranger(hitl, team_id="T0OTHER") as other:
        status = await other.slash_command("U0OPS1", "/hitl", "status")
        kill = await other.slash_command("U0OPS1", "/hitl", "kill all \x00drill")
    for response in (status, kill):
        assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
        assert "only its members can act on it" in response.json()["text"]
    assert (await hitl.api.get("/v1/killswitch")).json() == {"active": []}
    rows = await wait_for_rows(hitl, "unauthorized_attempt", 2)
    assert [(r.details["command"], r.details["reason"]) for r in rows] == [
        ("status", "other_workspace"),
        ("kill", "other_workspace"),
    ]
    assert "\x00" not in rows[1].details["text"]


async def test_the_kill_form_submitted_from_another_workspace_is_refused(hitl: Harness) -> None:
    await hitl.slack.slash_command("U0OPS1", "/hitl", "kill")
    view = hitl.slack.last_opened_view()
    assert view is not None
    async with stranger(hitl, team_id="T0OTHER") as other:
        response = await other.submit_view(
            "U0OPS1", view["id"], {InputId.SCOPE.value: "all", InputId.REASON.value: "drill"}
        )
    assert response.json()["response_action"] == "errors" and InputId.SCOPE.value in response.json()["errors"]
    assert (await hitl.api.get("/v1/killswitch")).json() == {"active": []}
    [row] = await wait_for_rows(hitl, "unauthorized_attempt", 1)
    assert (row.details["command"], row.details["reason"]) == ("kill", "other_workspace")


async def test_a_click_on_a_decided_case_is_audited_as_refused(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    hitl.emulator.faults.fail("chat.update", status=500, count=None)  # the card keeps its buttons a while
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    await hitl.slack.click("U0BILL1", card.channel, card.ts, ActionId.REJECT.value)
    await ephemerals_for(hitl, "U0BILL1")
    [row] = await wait_for_rows(hitl, "decision_refused", 1)
    assert (row.actor_id, row.details["reason"], row.details["attempted"]) == (
        "U0BILL1",
        "already decided",
        ActionId.REJECT.value,
    )
    hitl.emulator.faults.clear()


# ---- user-group membership that can't be refreshed -------------------------------------------------------


def slack_refuses_usergroups(emulator: Emulator) -> None:
    # A Slack-side failure answered at once (a 5xx would be retried inside slack-sdk for seconds).
    emulator.faults.fail("usergroups.users.list", status=200, count=None)


async def test_group_membership_counts_for_a_bounded_time_when_slack_cant_confirm_it(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    await open_modal(hitl, "U0BILL1", "case-1", ActionId.APPROVE)  # S0BILLING resolved and cached
    slack_refuses_usergroups(hitl.emulator)
    # Past the 5-minute refresh but inside the grace: the last copy still counts.
    hitl.clock.advance(timedelta(seconds=FRESH_FOR + STALE_GRACE - 60))
    await open_modal(hitl, "U0BILL1", "case-1", ActionId.EDIT)
    # Past the grace: refused with a clear message, and audited.
    hitl.clock.advance(timedelta(seconds=120))
    await hitl.slack.click("U0BILL1", card.channel, card.ts, ActionId.REJECT.value)
    [text] = await ephemerals_for(hitl, "U0BILL1")
    assert "couldn't check your user-group membership with Slack" in text
    assert len(hitl.emulator.calls_to("views.open")) == 2
    [row] = await wait_for_rows(hitl, "unauthorized_attempt", 1)
    assert (row.details["reason"], row.details["unverified"]) == ("membership_unverified", True)
    # Directly named reviewers are not affected; and once Slack answers again, the group counts again.
    await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    hitl.emulator.faults.clear()
    await hitl.slack.click("U0BILL1", card.channel, card.ts, ActionId.CLAIM.value)
    for _ in range(500):
        if (await hitl.status("case-1"))["claimed_by"]:
            break
        await asyncio.sleep(0.01)
    assert (await hitl.status("case-1"))["claimed_by"]["slack_user_id"] == "U0BILL1"


async def test_a_form_submitted_after_membership_went_stale_is_refused_and_audited(hitl: Harness) -> None:
    await hitl.escalate()
    view = await open_modal(hitl, "U0BILL1", "case-1", ActionId.REJECT)
    slack_refuses_usergroups(hitl.emulator)
    hitl.clock.advance(timedelta(seconds=FRESH_FOR + STALE_GRACE + 1))
    response = await hitl.slack.submit_view("U0BILL1", view["id"], {"reason": "hallucination", "note": "made up"})
    assert response.json()["response_action"] == "update"
    assert "couldn't check your user-group membership" in str(response.json()["view"])
    [row] = await wait_for_rows(hitl, "unauthorized_attempt", 1)
    assert (row.details["reason"], row.details["attempted"]) == ("membership_unverified", "rejected")
    assert (await hitl.status("case-1"))["status"] == "pending"
    hitl.emulator.faults.clear()


async def test_operators_through_a_stale_group_are_refused_with_a_clear_message(
    db_url: str, emulator: Any, clock: Any
) -> None:
    from bot.policy import parse_policy

    # An operator group instead of a named operator.
    policy = parse_policy(
        {
            **issue_policy().model_dump(mode="json", exclude_none=True),
            "ops": {"channel": "C0OPS", "operators": ["S0OPS"]},
        },
        "test",
    )
    async with serve_hitl(db_url, emulator, clock, policy=policy) as hitl:
        allowed = await hitl.slack.slash_command("U0OPS2", "/hitl", "kill all drill one")
        assert "Paused" in allowed.json()["text"]
        slack_refuses_usergroups(hitl.emulator)
        hitl.clock.advance(timedelta(seconds=FRESH_FOR + STALE_GRACE + 1))
        refused = await hitl.slack.slash_command("U0OPS2", "/hitl", "resume all")
        assert "couldn't check your user-group membership" in refused.json()["text"]
        [row] = await wait_for_rows(hitl, "unauthorized_attempt", 1)
        assert (row.details["command"], row.details["reason"]) == ("resume", "membership_unverified")
        hitl.emulator.faults.clear()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyGroups:
    """A stand-in for AsyncWebClient.usergroups_users_list that fails when told to."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
        from slack_sdk.errors import SlackClientError

        self.calls += 1
        if self.down:
            raise SlackClientError("slack is unreachable")
        return {"ok": True, "users": ["U1"]}


async def test_the_directory_keeps_a_copy_for_the_grace_only() -> None:
    clock, slack = FakeClock(), FlakyGroups()
    directory = ReviewerDirectory(slack, clock=clock, fresh_for=300, stale_grace=900)  # type: ignore[arg-type]
    assert directory.longest_trust == 1200
    assert await directory.group_members("S0GRP") == {"U1"}
    clock.now += 299
    assert await directory.group_members("S0GRP") == {"U1"} and slack.calls == 1  # fresh: no call
    slack.down = True
    clock.now += 2
    assert await directory.group_members("S0GRP") == {"U1"}  # stale, inside the grace
    await directory.refresh(["S0GRP"])  # a failed refresh keeps the copy and its age
    clock.now += 898
    assert await directory.group_members("S0GRP") == {"U1"}
    clock.now += 2
    assert await directory.group_members("S0GRP") is None  # 1,201 s old: no longer trusted
    assert (
        not (await directory.includes("U1", ["S0GRP"])).allowed
        and (await directory.includes("U1", ["S0GRP"])).unverified
    )
    slack.down = False
    assert await directory.group_members("S0GRP") == {"U1"}
