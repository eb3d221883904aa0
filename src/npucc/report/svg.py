"""Inline SVG bar charts for the build report (no JavaScript, no external files)."""

from __future__ import annotations

from html import escape


def bar_chart(title: str, labels: list[str], values: list[float | None], *, unit: str = "",
              color: str = "#3b6ea5", width: int = 900, bar_height: int = 14,
              highlight=None) -> str:
    """A horizontal bar chart, one bar per label; None values are drawn as 'n/a'.
    highlight(value) -> True paints that bar red (e.g. low cosine)."""
    known = [v for v in values if v is not None]
    top = max(known) if known else 1.0
    top = top if top > 0 else 1.0
    label_w, gap = 260, 4
    plot_w = width - label_w - 90
    height = 30 + len(labels) * (bar_height + gap)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}" class="chart">',
             f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 26 + i * (bar_height + gap)
        short = label if len(label) <= 40 else label[:37] + "..."
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_height - 3}" font-size="11" '
                     f'text-anchor="end"><title>{escape(label)}</title>{escape(short)}</text>')
        if value is None:
            parts.append(f'<text x="{label_w}" y="{y + bar_height - 3}" font-size="11" '
                         'fill="#888">n/a</text>')
            continue
        w = max(1.0, plot_w * max(value, 0.0) / top)
        fill = "#c0392b" if highlight is not None and highlight(value) else color
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                     f'fill="{fill}"><title>{escape(label)}: {value:.4g}{unit}</title></rect>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_height - 3}" '
                     f'font-size="11">{value:.4g}{escape(unit)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
