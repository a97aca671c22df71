"""The showdown's outputs: a printed table, Markdown, CSV and a PNG of six panels."""

from __future__ import annotations

import csv
import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import psutil

from benchmarks.runner import Result

# What every benchmark says of a delivery: (header, Result field, format).
DELIVERY_COLUMNS = [
    ("delivered", "delivered", "{:d}"),
    ("lost", "lost", "{:d}"),
    ("dup", "duplicated", "{:d}"),
    ("p50 ms", "p50_ms", "{:.1f}"),
    ("p99 ms", "p99_ms", "{:.1f}"),
    ("max ms", "max_ms", "{:.1f}"),
]

COLUMNS = [  # (header, Result field, format)
    ("transport", "label", "{}"),
    ("clients", "clients", "{:d}"),
    *DELIVERY_COLUMNS,
    ("requests", "requests", "{:d}"),
    ("req/client/min", "requests_per_client_min", "{:.0f}"),
    ("bytes/msg", "bytes_per_msg", "{:.0f}"),
    ("server CPU s", "cpu_s", "{:.2f}"),
    ("peak MiB", "peak_mib", "{:.0f}"),
    ("note", "note", "{}"),
]


def machine() -> dict:
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_1min": round(load[0], 2),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def machine_line(info: dict) -> str:
    load = f"load average {info['load_1min']} at the start"
    if "load_1min_end" in info:
        load += f", {info['load_1min_end']} at the end"
    return f"{info['cores']} cores, {info['memory_gib']} GiB RAM, Python {info['python']}, {load}, {info['date']}"


def cell(result: Result, name: str, fmt: str) -> str:
    value = getattr(result, name)
    if isinstance(value, float) and math.isnan(value):
        return "–"
    return fmt.format(value)


def rows(results: list[Result]) -> list[list[str]]:
    return [[cell(r, name, fmt) for _, name, fmt in COLUMNS] for r in results]


def text_table(results: list[Result]) -> str:
    headers = [h for h, _, _ in COLUMNS]
    body = rows(results)
    widths = [max(len(x) for x in column) for column in zip(headers, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in body]
    return "\n".join(lines)


def aligned_table(columns: list[tuple[str, str, str]], rows: list[dict]) -> str:
    """Plain-text table of ``rows`` (dicts), one column per ``(header, key, format)``, right-aligned."""
    cells = [[h for h, _, _ in columns]] + [[fmt.format(row[key]) for _, key, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    headers = [h for h, _, _ in COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join(lines)


def write_markdown(path: Path, results: list[Result], info: dict, params: dict) -> None:
    text = [
        "# Transport showdown",
        "",
        f"Machine: {machine_line(info)}.",
        f"Workload: {params['messages']} messages at {params['rate']:g}/s to each of N clients; "
        "each lab served by gunicorn with 1 gevent worker (plus its private Redis where it needs one).",
        "Latency: from just before the publisher's POST to the client reading the message. "
        "Requests, bytes (received by the clients, HTTP heads and framing included) and server CPU "
        "are counted over the measured window; peak memory is the server's whole process tree.",
        "",
        markdown_table(results),
        "",
        "On reconnect: after its runs, one client of each transport lost its connection, missed one "
        "message and came back as its browser client would (the webhook: the sender retried a delivery).",
        "",
        "| transport | on reconnect |",
        "|---|---|",
        *[f"| {label} | {text} |" for label, text in dict((r.label, r.on_reconnect) for r in results).items()],
        "",
    ]
    path.write_text("\n".join(text))


def write_csv(path: Path, results: list[Result]) -> None:
    with path.open("w", newline="") as handle:
        fields = list(results[0].row()) if results else []
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for result in results:
            writer.writerow(result.row())


PANELS = [  # (Result field, title, log scale)
    ("p50_ms", "p50 delivery latency (ms)", True),
    ("p99_ms", "p99 delivery latency (ms; dashed: the 100 ms target)", True),
    ("bytes_per_msg", "bytes received per delivered message", True),
    ("requests_per_client_min", "HTTP requests per client per minute", False),
    ("cpu_s", "server CPU seconds (measured window)", False),
    ("peak_mib", "server peak memory (MiB, whole process tree)", False),
]
TARGET_P99_MS = 100.0  # the classroom target: 1,000 readers on one process, p99 under this


def plot(path: Path, results: list[Result], title: str = "") -> None:
    """Six panels; lines over N when several client counts were run, else bars."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, works in CI and kernels alike
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(r.label for r in results))
    sweep = len({r.clients for r in results}) > 1
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    for ax, (name, panel_title, log) in zip(axes.flat, PANELS, strict=True):
        if sweep:
            for label in labels:
                points = sorted((r.clients, getattr(r, name)) for r in results if r.label == label)
                points = [(x, y) for x, y in points if not math.isnan(y)]
                if points:
                    ax.plot(*zip(*points, strict=True), marker="o", label=label)
            ax.set_xscale("log")
            ax.set_xlabel("concurrent clients")
        else:
            values = [next((getattr(r, name) for r in results if r.label == lab), math.nan) for lab in labels]
            ax.bar(range(len(labels)), [0 if math.isnan(v) else v for v in values],
                   color=[f"C{i}" for i in range(len(labels))])
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        if log:
            ax.set_yscale("log")
        if name == "p99_ms":
            ax.axhline(TARGET_P99_MS, color="grey", linestyle="--", linewidth=1)
        ax.set_title(panel_title, fontsize=10)
        ax.grid(True, alpha=0.3)
    if sweep and axes.flat[0].get_legend_handles_labels()[0]:
        axes.flat[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_all(out_dir: Path, results: list[Result], info: dict, params: dict) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "showdown.md", "csv": out_dir / "showdown.csv", "png": out_dir / "showdown.png"}
    write_markdown(paths["markdown"], results, info, params)
    write_csv(paths["csv"], results)
    plot(paths["png"], results, f"Transport showdown: {params['messages']} messages at {params['rate']:g}/s "
                                f"to N clients; each lab on gunicorn with 1 gevent worker; "
                                f"{info['cores']} cores, {info['memory_gib']:g} GiB")
    return paths
