"""A CostReport as readable tables (rich): one row per layer, the CPU layers' reasons, totals."""

from __future__ import annotations

import sys

from .cost import CostReport


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f}" if n else ""


def print_report(report: CostReport, title: str = "", file=None) -> None:
    """Print the per-layer table, every reason a layer runs on the CPU, and the totals."""
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 200, highlight=False)
    table = Table(title=f"{title} on {report.target} ({report.precision}, "
                        f"{report.clock_mhz:g} MHz, one core)".strip(), show_lines=False)
    for name, justify in (("#", "right"), ("layer (source names)", "left"), ("op", "left"),
                          ("device", "left"), ("time us", "right"), ("MACs", "right"),
                          ("weights KiB", "right"), ("read KiB", "right"),
                          ("write KiB", "right"), ("on-chip KiB", "right"), ("bound", "left")):
        table.add_column(name, justify=justify, overflow="fold")
    cpu_notes = []
    for i, x in enumerate(report.layers):
        bound = "" if not x.time_us else "memory" if x.memory_us > x.compute_us else \
            "compute" if x.compute_us > 0 else "overhead"
        table.add_row(str(i), x.name, x.op, x.device,
                      f"{x.time_us:,.1f}", f"{x.macs:,}" if x.macs else "",
                      _kib(x.weight_bytes), _kib(x.read_bytes), _kib(x.write_bytes),
                      _kib(x.onchip_bytes), bound)
        if x.reasons:
            cpu_notes.append((i, x))
    console.print(table)
    if cpu_notes:
        console.print("Why layers run on the CPU:")
        for i, x in cpu_notes:
            console.print(f"  #{i} {x.name} ({x.op}):")
            for reason in x.reasons:
                console.print(f"      - {reason}")
    m = report.memory
    console.print(
        f"Total {report.total_time_us:,.1f} us = {report.fps:,.1f} FPS "
        f"(NPU {report.time_on('NPU'):,.1f} us, CPU {report.time_on('CPU'):,.1f} us); "
        f"{report.total_macs / 1e6:,.1f} M MACs\n"
        f"Memory: weights {m.weights_bytes / 2**20:,.2f} MiB, peak activations "
        f"{m.peak_activation_bytes / 2**20:,.2f} MiB (one buffer per value: "
        f"{m.naive_activation_bytes / 2**20:,.2f} MiB), DRAM traffic "
        f"{m.dram_traffic_bytes / 2**20:,.2f} MiB per inference; {m.onchip_values} values "
        f"passed on chip (largest {m.largest_onchip_bytes / 1024:,.1f} KiB of "
        f"{m.onchip_buffer_bytes / 1024:,.0f} KiB)")
