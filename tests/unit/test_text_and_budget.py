"""Text helpers and the message budget (blocks/text.py, blocks/budget.py): escaping, cutting to a limit in
Slack's units, and shrinking a whole render until it fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks.budget import (
    BLOCK_OVERHEAD,
    MESSAGE_BLOCKS,
    TEXT,
    Scale,
    context,
    fit_message,
    line_sections,
    message_cost,
    section,
    texts,
    view_bytes,
)
from blocks.text import (
    escape_mrkdwn,
    fit,
    fit_items,
    human_delta,
    label,
    link,
    mention,
    mentions,
    number,
    plain,
    slack_date,
    text_len,
    visible,
)


def test_lengths_are_utf16_units() -> None:
    assert text_len("abc") == 3 and text_len("é日") == 2 and text_len("😀") == 2 and text_len("👩‍👩‍👧") == 8


def test_escaping_neutralises_slacks_control_sequences() -> None:
    assert escape_mrkdwn("<!channel> & <@U1|x>") == "&lt;!channel&gt; &amp; &lt;@U1|x&gt;"
    assert escape_mrkdwn("*bold* _it_") == "*bold* _it_"  # formatting is kept, only controls are escaped


def test_fit_keeps_short_text_and_marks_a_cut() -> None:
    assert fit("a & b", 100) == "a &amp; b"
    assert fit("a & b", 100, escape=False) == "a & b"
    cut = fit("x" * 500, 100)
    assert (
        text_len(cut) <= 100 and cut.startswith("x") and cut.endswith("more characters]_") and "…\n_[cut here: " in cut
    )
    assert fit("x" * 500, 10) == "…"  # no room for the marker


@pytest.mark.parametrize("unit", ["&", "😀", "&😀<", "a&b"])
def test_fit_never_splits_an_entity_or_a_surrogate_pair(unit: str) -> None:
    for limit in range(40, 80):
        cut = fit(unit * 200, limit)
        head = cut.split("…", 1)[0]
        assert text_len(cut) <= limit
        assert head == escape_mrkdwn(head.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
        assert not head.endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt"))
        head.encode("utf-8")  # a split surrogate pair would not encode


def test_plain_is_one_line_cut_with_an_ellipsis() -> None:
    assert plain("a\n b\t\tc", 10) == "a b c"
    assert plain("abcdef", 4) == "abc…"
    assert plain("😀😀😀", 4) == "😀…"  # 2 + 1 units
    assert text_len(plain("😀" * 10, 5)) <= 5


def test_a_label_is_never_blank() -> None:
    assert label("Queue", 24) == "Queue"
    assert label("\u200b\u200b", 24) == '"\\u200b\\u200b"'
    assert visible(label("\u202e", 24)) and not visible("\u200b \u3000\n")


def test_fit_items_counts_what_it_leaves_out() -> None:
    assert fit_items(["a", "b", "c"], 100) == "a\nb\nc"
    assert fit_items(["aaaa", "bbbb", "cccc"], 12, "+{n} more") == "aaaa\n+2 more"
    assert fit_items([], 10) == ""
    assert fit_items(["x" * 50], 10) == "+1 more"


@pytest.mark.parametrize(
    "value, spec, shown",
    [
        (1234567, ",", "1,234,567"),
        (10**15, ",", "1.00e+15"),
        (-(10**4000), ",", "-1.00e+4000"),
        (1e308, ",.2f", "1.00e+308"),
        (-0.0, ".2f", "-0.00"),
        (0.5, ".0%", "50%"),
        (True, ",", "1"),
    ],
)
def test_numbers_for_people(value: float, spec: str, shown: str) -> None:
    assert number(value, spec) == shown


@pytest.mark.parametrize(
    "delta, shown",
    [
        (timedelta(seconds=5), "5s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=60), "1m"),
        (timedelta(minutes=90), "1h 30m"),
        (timedelta(hours=5, minutes=3), "5h 03m"),
        (timedelta(days=400, hours=2), "400d 2h"),
        (timedelta(days=-2), "2d 0h"),
        (timedelta(days=36500 * 2), "73,000d 0h"),
    ],
)
def test_human_deltas(delta: timedelta, shown: str) -> None:
    assert human_delta(delta) == shown


def test_dates_carry_a_utc_fallback() -> None:
    when = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    assert slack_date(when) == f"<!date^{int(when.timestamp())}^{{date_short_pretty}} at {{time}}|2026-11-21 12:30 UTC>"


def test_links_refuse_what_slacks_syntax_cannot_carry() -> None:
    assert link("https://x.example.com/a", "the card") == "<https://x.example.com/a|the card>"
    for url in (
        None,
        "",
        "https://x.example.com/a|b",
        "https://x.example.com/<b>",
        "https://x.example.com/a b",
        "https://x.example.com/" + "a" * 500,
    ):
        assert link(url, "label") is None


def test_mentions_of_users_and_groups_are_bounded() -> None:
    assert mention("U0A") == "<@U0A>" and mention("W0A") == "<@W0A>" and mention("S0A") == "<!subteam^S0A>"
    many = mentions(["U" + "A" * 20] * 100, 200)
    assert text_len(many) <= 200 and many.endswith("more") and many.count("<@") < 100


# ---- the budget ---------------------------------------------------------------------------------------------


def test_scale_shrinks_to_its_floor_and_never_grows() -> None:
    assert Scale()(1500) == 1500 and Scale().full
    assert Scale(0.5)(1500) == 750 and not Scale(0.5).full
    assert Scale(0.01)(1500) == 60 and Scale(0.01)(1500, floor=3) == 15
    assert Scale(0.01)(40) == 40  # a floor above the size is the size


def test_message_cost_counts_text_and_an_overhead_per_block() -> None:
    blocks = [section("abc"), context("😀", "de"), {"type": "divider"}]
    assert texts(blocks) == ["abc", "😀", "de"]
    assert message_cost(blocks) == 3 + 2 + 2 + 3 * BLOCK_OVERHEAD


def test_fit_message_renders_full_size_when_it_fits_and_smaller_until_it_does() -> None:
    calls: list[float] = []

    def render(scale: Scale) -> list[dict[str, object]]:
        calls.append(scale.factor)
        return [section("x" * scale(2900, floor=100)) for _ in range(10)]

    small = fit_message(render, budget=100_000)
    assert calls == [1.0] and message_cost(small) == 10 * (2900 + BLOCK_OVERHEAD)
    calls.clear()
    fitted = fit_message(render, budget=11_000)
    assert message_cost(fitted) <= 11_000 and len(calls) > 1 and calls == sorted(calls, reverse=True)


def test_fit_message_refuses_a_builder_that_makes_too_many_blocks() -> None:
    with pytest.raises(AssertionError):
        fit_message(lambda scale: [{"type": "divider"}] * (MESSAGE_BLOCKS + 1), budget=10**9)


def test_line_sections_pack_whole_lines_and_count_the_rest() -> None:
    lines = [f"line {i:03d} " + "x" * 90 for i in range(100)]
    blocks = line_sections(lines, budget=2000, more="…and {n} more")
    shown = "\n".join(b["text"]["text"] for b in blocks)
    assert all(text_len(b["text"]["text"]) <= TEXT for b in blocks)
    assert message_cost(blocks) <= 2000
    kept = [line for line in lines if line in shown]
    assert kept == lines[: len(kept)] and shown.endswith(f"…and {100 - len(kept)} more")
    assert line_sections(["a", "b"], budget=1000) == [section("a\nb")]
    assert "…and 7 more" in str(line_sections(["a"], budget=1000, hidden=7))


@given(st.lists(st.text(st.sampled_from("ab&😀 "), min_size=1, max_size=500), max_size=80), st.integers(100, 20_000))
def test_line_sections_stay_in_budget(lines: list[str], budget: int) -> None:
    blocks = line_sections([fit(line, 500) for line in lines], budget=budget)
    assert all(text_len(b["text"]["text"]) <= TEXT for b in blocks)
    if lines:
        assert message_cost(blocks) <= budget + BLOCK_OVERHEAD + 30  # the "more" note may open one more block


def test_view_bytes_count_json_as_sent() -> None:
    assert view_bytes({"a": "é"}) == len('{"a":"\\u00e9"}')
