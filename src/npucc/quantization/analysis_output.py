"""How an accuracy report is shown and saved: a rich text table, one self-contained HTML page
(inline CSS and an inline SVG plot of the per-layer SQNR, no script), and the output directory:

    float/, quantized/        <file>.npy float32 arrays (quantized: the report's mode)
    report.html, report.json  the report of the mode asked for
  RKNN-Toolkit2's files (rknn_version=2):
    error_analysis.txt        `[Op] name`, entire cos | euc, single cos | euc
    golden/<file>.txt         float values of every layer, one `%f` per line (first sample)
    simulator/<file>.txt      quantized (dequantized) values, `entire` mode, one `%f` per line
    map_name_to_file.txt      `value name<TAB>file name` (RKNN replaces "/" by "_"; so do we)
  or RKNN-Toolkit v1's (rknn_version=1):
    fp32/<file>.npy, fp32/order.txt    float values (first sample); the files in graph order
    entire_qnt/, individual_qnt/       dequantized values of the `entire` and `single` modes
    entire_qnt_error_analysis.txt, individual_qnt_error_analysis.txt   per layer `<idx> <file>`
        then `eculidean_norm=.. cosine_norm=.. eculidean=.. cosine=..` (RKNN's spelling)
Every file is written through a temporary file and os.replace.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from pathlib import Path

import numpy as np

from ..atomic import write_atomic as _write
from .analysis_metrics import LayerError

COSINE_WARN = 0.99  # rows below this cosine are highlighted


def _num(x: float | None, fmt: str) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return format(x, fmt)


COLUMNS = (("cosine", ".6f"), ("euclidean", ".5g"), ("relative_error", ".4g"),
           ("sqnr_db", ".2f"), ("max_error_lsb", ".2f"), ("saturated_pct", ".3f"))
HEADERS = ("cosine", "euclidean", "rel. error", "SQNR dB", "max err LSB", "saturated %")


def _cells(r: LayerError) -> list[str]:
    return [_num(getattr(r, k), f) for k, f in COLUMNS]


def format_table(report, width: int = 160) -> str:
    """The report as a text table (rich), worst rows marked with `!`."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.graph}: {report.mode} accuracy analysis, {report.samples} "
                        "sample(s)", title_justify="left")
    for h in ("", "layer", "source layers", "op", "dtype", *HEADERS):
        table.add_column(h, overflow="fold", justify="right" if h in HEADERS else "left")
    for r in report.layers:
        table.add_row("!" if r.cosine < COSINE_WARN else "", r.name, ", ".join(r.source_layers),
                      r.op, r.dtype, *_cells(r))
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False).print(table)
    return out.getvalue()


def _svg(layers: list[LayerError]) -> str:
    """Bars of the per-layer SQNR (dB), red where the cosine is below COSINE_WARN; each bar's
    tooltip names the layer."""
    n = max(len(layers), 1)
    bar, gap, h, top, left = 14, 4, 220, 20, 48
    w = left + n * (bar + gap) + 20
    finite = [r.sqnr_db for r in layers if math.isfinite(r.sqnr_db)]
    vmax = max([10.0, *finite]) * 1.1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h + top + 30}" '
             f'role="img" aria-label="SQNR per layer">',
             f'<text x="4" y="14" font-size="11">SQNR dB per layer (red: cosine &lt; '
             f'{COSINE_WARN})</text>']
    for k in range(5):
        v = vmax * k / 4
        y = top + h - h * k / 4
        parts.append(f'<line x1="{left}" x2="{w - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{v:.0f}</text>')
    for i, r in enumerate(layers):
        s = r.sqnr_db if math.isfinite(r.sqnr_db) else (vmax if r.sqnr_db > 0 else 0.0)
        bh = max(0.0, min(s, vmax)) / vmax * h
        x = left + i * (bar + gap)
        color = "#d62728" if r.cosine < COSINE_WARN else "#1f77b4"
        tip = html.escape(f"{i}: {r.name} ({', '.join(r.source_layers)}) {r.op} "
                          f"cos={r.cosine:.6f} sqnr={_num(r.sqnr_db, '.2f')} dB")
        parts.append(f'<rect x="{x}" y="{top + h - bh:.1f}" width="{bar}" height="{bh:.1f}" '
                     f'fill="{color}"><title>{tip}</title></rect>')
        if n <= 200 and i % max(1, n // 40) == 0:
            parts.append(f'<text x="{x + bar / 2}" y="{top + h + 12}" font-size="9" '
                         f'text-anchor="middle">{i}</text>')
    parts.append("</svg>")
    return "".join(parts)


_CSS = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:12px}"
        "th,td{border:1px solid #ccc;padding:2px 6px}td.n{text-align:right;"
        "font-family:monospace}tr.bad{background:#fde0e0}th{background:#f0f0f0}")


def html_page(report) -> str:
    """One self-contained HTML page: a summary, the plot, and one table row per layer."""
    e = html.escape
    head = ["#", "layer", "source layers", "op", "dtype", *HEADERS]
    rows = []
    for i, r in enumerate(report.layers):
        cls = ' class="bad"' if r.cosine < COSINE_WARN else ""
        cells = "".join(f'<td class="n">{e(c)}</td>' for c in _cells(r))
        rows.append(f"<tr{cls}><td>{i}</td><td>{e(r.name)}</td>"
                    f"<td>{e(', '.join(r.source_layers))}</td><td>{e(r.op)}</td>"
                    f"<td>{e(r.dtype)}</td>{cells}</tr>")
    outs = "".join(f"<li>{e(r.name)}: cosine {r.cosine:.6f}, SQNR {_num(r.sqnr_db, '.2f')} dB"
                   "</li>" for r in report.outputs)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{e(report.graph)} accuracy analysis</title><style>{_CSS}</style></head>"
            f"<body><h1>{e(report.graph)}: accuracy analysis ({e(report.mode)})</h1>"
            f"<p>{report.samples} sample(s), {len(report.layers)} layers. Mode "
            f"<b>{e(report.mode)}</b>: "
            + ("errors accumulate through the quantized graph." if report.mode == "entire" else
               "each layer is fed the float values of its inputs.")
            + f"</p><h2>Outputs</h2><ul>{outs}</ul><h2>Per layer</h2>{_svg(report.layers)}"
            f"<table><thead><tr>{''.join(f'<th>{e(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></body></html>\n")



def write_atomic(path, data: bytes) -> None:
    """One file of an analysis directory (many small files: no fsync each)."""
    _write(path, data, fsync=False)


def file_names(names: list[str]) -> dict[str, str]:
    """A distinct, safe file stem for each value name ("/" and other characters become "_")."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".")[:120] or "value"
        cand, k = stem, 1
        while cand in used:
            k += 1
            cand = f"{stem}_{k}"
        used.add(cand)
        out[name] = cand
    return out


def rknn_table(reports: dict) -> str:
    """RKNN-Toolkit2's error_analysis.txt: both modes' cos | euc per layer."""
    entire = reports["entire"].layers
    single = {r.name: r for r in reports["single"].layers}
    lines = [f"{'layer_name':<60} {'entire':^20} {'single':^20}",
             f"{'':<60} {'cos':>9} {'euc':>10} {'cos':>9} {'euc':>10}"]
    for r in entire:
        s = single[r.name]
        lines.append(f"{f'[{r.op}] {r.name}':<60} {r.cosine:.5f} | {r.euclidean:<10.5f} "
                     f"{s.cosine:.5f} | {s.euclidean:<10.5f}")
    return "\n".join(lines) + "\n"


def _txt(a: np.ndarray) -> bytes:
    """One `%f` value per line (RKNN's dump format), flattened in the value's layout."""
    flat = np.asarray(a, np.float32).reshape(-1).tolist()
    return (("%f\n" * len(flat)) % tuple(flat)).encode()


def _npy(a: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.asarray(a, np.float32), allow_pickle=False)
    return out.getvalue()


def rknn1_table(report) -> str:
    """RKNN-Toolkit v1's <mode>_qnt_error_analysis.txt: two lines per layer, `<idx> <file>` (the
    layer's .npy dump, which names it) and its four metrics, RKNN's spelling included."""
    names = file_names([r.name for r in report.layers])
    return "".join(f"{i} {names[r.name]}.npy\n"
                   f"eculidean_norm={r.euclidean_norm:.6f} cosine_norm={r.cosine_norm:.6f} "
                   f"eculidean={r.euclidean:.6f} cosine={r.cosine:.6f}\n"
                   for i, r in enumerate(report.layers))


def write_output_dir(directory, reports: dict, dumps: dict, mode: str,
                     rknn_version: int = 2) -> None:
    """The files listed in the module docstring. `reports`: {mode: AccuracyReport} for both
    modes; `dumps`: {"float" | mode: {layer name: array}} of the first sample; rknn_version:
    RKNN-Toolkit2's files (2) or v1's (1)."""
    root = Path(directory)
    rknn_dirs = ("golden", "simulator") if rknn_version == 2 else (
        "fp32", "entire_qnt", "individual_qnt")
    for sub in ("float", "quantized", *rknn_dirs):
        (root / sub).mkdir(parents=True, exist_ok=True)
    names = file_names([r.name for r in reports[mode].layers])
    for name, stem in names.items():
        write_atomic(root / "float" / f"{stem}.npy", _npy(dumps["float"][name]))
        write_atomic(root / "quantized" / f"{stem}.npy", _npy(dumps[mode][name]))
        if rknn_version == 2:
            write_atomic(root / "golden" / f"{stem}.txt", _txt(dumps["float"][name]))
            write_atomic(root / "simulator" / f"{stem}.txt", _txt(dumps["entire"][name]))
        else:
            for sub, key in zip(rknn_dirs, ("float", "entire", "single")):
                write_atomic(root / sub / f"{stem}.npy", _npy(dumps[key][name]))
    if rknn_version == 2:
        write_atomic(root / "map_name_to_file.txt",
                     "".join(f"{n}\t{s}.txt\n" for n, s in names.items()).encode())
        write_atomic(root / "error_analysis.txt", rknn_table(reports).encode())
    else:
        write_atomic(root / "fp32" / "order.txt",
                     "".join(f"{s}.npy\n" for s in names.values()).encode())
        for key, prefix in (("entire", "entire"), ("single", "individual")):
            write_atomic(root / f"{prefix}_qnt_error_analysis.txt",
                         rknn1_table(reports[key]).encode())
    write_atomic(root / "report.json",
                 (json.dumps(reports[mode].to_json(), indent=1) + "\n").encode())
    write_atomic(root / "report.html", html_page(reports[mode]).encode())
