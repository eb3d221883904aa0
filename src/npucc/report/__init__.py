"""The build report: one self-contained HTML page per build (no scripts, no external files).

    rows = layer_rows(cost_report, analysis)   # cost model layers + quantization error
    write_build_report("model.report.html", title, summary, rows, notes)

Each row names the layer by its source-model layers (through fusion), the op, the precision it
computes in (int8 for u8 and i8 storage alike, int16, fp16; f32 on the CPU), where it runs
(NPU/CPU) with every reason for the CPU, the estimated time and DRAM traffic, and the
quantization error when the build analysed it.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..atomic import write_atomic
from .svg import bar_chart

_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef2f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.cpu td { background: #fff4e5; }
.reasons { color: #a04000; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dl.summary dt { font-weight: bold; }
"""


def layer_rows(cost, analysis=None) -> list[dict]:
    """One dict per cost-model layer; `analysis` (an AccuracyReport) adds cosine and SQNR to
    the layers it measured, matched by source layers."""
    errors = {}
    for e in getattr(analysis, "layers", None) or ():
        errors[tuple(e.source_layers)] = e
        errors[(e.name,)] = e
    rows = []
    for x in cost.layers:
        e = errors.get(tuple(x.source_layers)) or errors.get((x.name,))
        rows.append({"name": x.name, "source_layers": list(x.source_layers), "op": x.op,
                     "dtype": x.precision, "device": x.device, "reasons": list(x.reasons),
                     "time_us": x.time_us, "macs": x.macs, "weight_bytes": x.weight_bytes,
                     "dram_bytes": x.dram_bytes,
                     "cosine": None if e is None else float(e.cosine),
                     "sqnr_db": None if e is None else float(e.sqnr_db)})
    return rows


def _fmt_bytes(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.2f} MiB"
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


def _cell(v, num=False) -> str:
    text = "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
    return f'<td class="num">{escape(text)}</td>' if num else f"<td>{escape(text)}</td>"


def render(title: str, summary: dict, rows: list[dict], notes=()) -> str:
    """The page as a string."""
    head = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>")
    parts = [head, f"<h1>{escape(title)}</h1>", '<section id="summary"><h2>Model summary</h2>',
             '<dl class="summary">']
    for k, v in summary.items():
        parts.append(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>")
    parts.append("</dl>")
    for note in notes:
        parts.append(f'<p class="note">{escape(note)}</p>')
    parts.append("</section>")
    labels = [r["name"] for r in rows]
    parts.append('<section id="charts"><h2>Charts</h2>')
    parts.append(bar_chart("Estimated time per layer", labels, [r["time_us"] for r in rows],
                           unit=" us"))
    if any(r["cosine"] is not None for r in rows):
        parts.append(bar_chart("Quantization error per layer (1 - cosine)", labels,
                               [None if r["cosine"] is None else 1 - r["cosine"] for r in rows],
                               color="#7d3c98", highlight=lambda v: v > 0.01))
    parts.append("</section>")
    parts.append('<section id="layers"><h2>Layers</h2><table id="layer-table"><thead><tr>'
                 + "".join(f"<th>{h}</th>" for h in (
                     "#", "Source layers", "Op", "Precision", "Device", "Why on the CPU",
                     "Time (us)", "MACs", "Weights", "DRAM traffic", "Cosine", "SQNR (dB)"))
                 + "</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cls = ' class="cpu"' if r["device"] == "CPU" else ""
        reasons = "<br>".join(escape(x) for x in r["reasons"])
        parts.append(f"<tr{cls}>" + _cell(i, True) + _cell(", ".join(r["source_layers"])
                                                          or r["name"])
                     + _cell(r["op"]) + _cell(r["dtype"]) + _cell(r["device"])
                     + f'<td class="reasons">{reasons}</td>' + _cell(r["time_us"], True)
                     + _cell(r["macs"], True) + _cell(_fmt_bytes(r["weight_bytes"]), True)
                     + _cell(_fmt_bytes(r["dram_bytes"]), True) + _cell(r["cosine"], True)
                     + _cell(r["sqnr_db"], True) + "</tr>")
    parts.append("</tbody></table></section></body></html>\n")
    return "\n".join(parts)


def write_build_report(path, title: str, summary: dict, rows: list[dict], notes=()) -> Path:
    """Write the page to `path` through a temporary file renamed into place."""
    path = Path(path)
    text = render(title, summary, rows, notes)
    return write_atomic(path, text)


__all__ = ["layer_rows", "render", "write_build_report"]
