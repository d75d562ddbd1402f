"""The digest's chart: decisions per day by outcome for 14 days, SLA breaches marked. PNG bytes, no I/O."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class DayFigures:
    day: date
    approved: int
    edited: int
    rejected: int
    breaches: int


def render_chart(days: list[DayFigures], *, title: str) -> bytes:
    # Imported here: matplotlib costs tens of MB and is needed once a day, not by every running process.
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    labels = [d.day.strftime("%d %b") for d in days]
    approved = [d.approved for d in days]
    edited = [d.edited for d in days]
    rejected = [d.rejected for d in days]
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=110)
    try:
        x = range(len(days))
        ax.bar(x, approved, color="#2eb67d", label="approved")
        ax.bar(x, edited, bottom=approved, color="#ecb22e", label="edited")
        ax.bar(
            x,
            rejected,
            bottom=[a + e for a, e in zip(approved, edited, strict=True)],
            color="#e01e5a",
            label="rejected",
        )
        tops = [a + e + r for a, e, r in zip(approved, edited, rejected, strict=True)]
        breach_x = [i for i, d in enumerate(days) if d.breaches]
        if breach_x:
            ax.scatter(
                breach_x, [tops[i] + 0.5 for i in breach_x], marker="v", color="#1d1c1d", zorder=3, label="SLA breaches"
            )
            for i in breach_x:
                ax.annotate(
                    str(days[i].breaches),
                    (i, tops[i] + 0.5),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=8,
                )
        ax.set_xticks(list(x), labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("decisions")
        ax.set_title(title, fontsize=11)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper left", fontsize=8, frameon=False, ncols=4)
        ax.set_ylim(0, max([*tops, 1]) * 1.3 + 1)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)
