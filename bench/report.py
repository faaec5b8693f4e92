"""Write the results: a Markdown report and a JSON file with every run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benv import Environment
from cases import Row
from inputs import Inputs
from summary import Results, Stat
from summary import fmt_time as _ms
from targets import MIB, Target

ROLE_TEXT = {"fromfile": "np.fromfile", "readinto": "readinto", "tofile": "tofile", "floor": "floor"}


def _timing(s: Stat | None) -> str:
    if s is None:
        return "–"
    if not s.ok:
        return "failed: " + (s.errors[0][:70].replace("|", "/") if s.errors else "?")
    spread = f" [{_ms(s.lo)}–{_ms(s.hi)}]" if s.n > 1 else ""
    return f"{_ms(s.median)}{spread} (n={s.n})"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def _limit(res: Results, row: Row) -> tuple[str, str]:
    """The limit column and the afmio/limit ratio column."""
    parts, ratios = [], []
    for role in ("floor", "fromfile", "readinto", "tofile"):
        s = res.get(row, role)
        if s is None:
            continue
        parts.append(f"{ROLE_TEXT[role]} {_ms(s.median) if s.ok else 'failed'}")
        r = res.ratio(row, "afmio", role)
        if r is not None:
            ratios.append(f"{r:.2f}x {ROLE_TEXT[role]}")
    return "; ".join(parts) or "–", "; ".join(ratios) or "–"


def _memory(res: Results, row: Row) -> str:
    a, p = res.get(row, "afmio"), res.get(row, "playnano")
    text = f"{_mb(a.peak_rss_mb) if a and a.ok else '–'} / {_mb(p.peak_rss_mb) if p and p.ok else '–'}"
    if a and a.ok and a.call_peak_mb is not None:
        text += f"; call +{a.call_peak_mb:.0f}"
        if a.result_nbytes and a.result_nbytes >= MIB:
            text += f" ({a.call_peak_mb / (a.result_nbytes / MIB):.2f}x result)"
    return text


def _output(res: Results, row: Row) -> str:
    a, p = res.get(row, "afmio"), res.get(row, "playnano")
    if row.op in ("save", "gif", "convert"):
        if not (a and a.out_bytes) and not (p and p.out_bytes):
            return "–"
        raw = row.stack_nbytes
        def one(s: Stat | None) -> str:
            if not s or not s.out_bytes:
                return "–"
            rel = f" ({s.out_bytes / raw:.2f}x raw)" if raw and row.op == "save" else ""
            return f"{s.out_bytes / MIB:.1f} MiB{rel}"
        return f"{one(a)} / {one(p)}"
    dtypes = [s.dtype or "–" for s in (a, p) if s is not None and s.ok]
    return " / ".join(dtypes) if dtypes else "–"


def markdown(res: Results, targets: list[Target], env: Environment, inputs: Inputs, meta: dict[str, Any]) -> str:
    lines = [f"# afmio benchmark ({meta['mode']} mode)", ""]
    lines.append(f"- when: {meta['started']} UTC, {meta['elapsed_s']:.0f} s; afmio {env.afmio_version}; "
                 f"python {meta['python_version']}; {meta['cpus']} CPUs")
    lines.append(f"- playNano: {env.playnano_note}")
    lines.append(f"- peak RSS: {env.gnu_time + ' -f %M' if env.gnu_time else 'os.wait4 rusage'} of each child")
    for note in env.notes + inputs.notes + res.plan.skipped:
        lines.append(f"- note: {note}")
    lines += ["", "Times are medians of the library call inside a fresh process [min–max] (n = runs); "
              "ratios below 1 mean afmio takes less time. Raw limits read or write the same bytes.", ""]
    lines += ["## Targets", "", "| target | status | measured |", "|---|---|---|"]
    for t in targets:
        measured = "<br>".join(f"{c.row}: {c.measured}" + ("" if c.ok is None else (" ✓" if c.ok else " ✗"))
                               for c in t.checks) or "–"
        if t.note:
            measured += f"<br>*{t.note}*"
        lines.append(f"| {t.text} | **{t.status}** | {measured} |")
    sections: dict[str, list[Row]] = {}
    for row in res.plan.rows.values():
        sections.setdefault(row.section, []).append(row)
    for section, rows in sections.items():
        lines += ["", f"## {section}", ""]
        if rows[0].op == "startup":
            lines += _startup_table(res, rows)
            continue
        peer = rows[0].peer
        lines += [f"| case | size | afmio | {peer} | raw limit | afmio ÷ limit | afmio ÷ {peer} | "
                  "peak RSS MiB afmio / peer; call growth | output / dtype |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            limit, vs_limit = _limit(res, row)
            title = row.title + (f" *({row.note})*" if row.note else "")
            lines.append(
                f"| {title} | {row.size or '–'} | {_timing(res.get(row, 'afmio'))} | "
                f"{_timing(res.get(row, 'playnano'))} | {limit} | {vs_limit} | "
                f"{_ratio(res.ratio(row, 'afmio', 'playnano'))} | {_memory(res, row)} | {_output(res, row)} |"
            )
    lines.append("")
    return "\n".join(lines)


def _startup_table(res: Results, rows: list[Row]) -> list[str]:
    out = ["| what | in-process | whole process | peak RSS MiB |", "|---|---|---|---|"]
    names = {"numpy": "import numpy", "afmio": "afmio", "afmio_import": "import afmio (no registry)",
             "python": "python -c pass (interpreter only)", "playnano": "import playnano.io.loader"}
    for row in rows:
        for role, key in row.roles.items():
            s = res.stats.get(key)
            if s is None or (role == "python" and row.key != "startup import"):
                continue
            label = row.title if role == "afmio" else names.get(role, role)
            in_proc = _timing(s) if row.key == "startup import" else "–"
            whole = "failed" if not s.ok else f"{_ms(s.wall)}"
            out.append(f"| {label} | {in_proc} | {whole} | {_mb(s.peak_rss_mb)} |")
    return out


def write(out_dir: Path, res: Results, targets: list[Target], env: Environment, inputs: Inputs,
          meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``bench-<stamp>.md/.json`` and copies named ``latest.md/.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = meta["started"].replace(":", "").replace("-", "").replace(" ", "-")
    md_text = markdown(res, targets, env, inputs, meta)
    doc = {
        "meta": meta,
        "environment": env.as_dict(),
        "notes": inputs.notes + res.plan.skipped,
        "targets": [t.as_dict() for t in targets],
        "rows": [
            {
                **{k: v for k, v in row.__dict__.items() if k != "roles"},
                "roles": {role: key for role, key in row.roles.items()},
                "ratios": {
                    "afmio/playnano": res.ratio(row, "afmio", "playnano"),
                    **{f"afmio/{role}": res.ratio(row, "afmio", role)
                       for role in ("floor", "fromfile", "readinto", "tofile") if role in row.roles},
                },
            }
            for row in res.plan.rows.values()
        ],
        "cases": {
            key: {"role": case.role, "env": case.env, "spec": case.spec, "argv": case.argv,
                  "stats": res.stats[key].as_dict(), "runs": case.runs}
            for key, case in res.plan.cases.items()
        },
    }
    md_path = out_dir / f"bench-{stamp}.md"
    json_path = out_dir / f"bench-{stamp}.json"
    md_path.write_text(md_text, encoding="utf-8")
    json_path.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    (out_dir / "latest.md").write_text(md_text, encoding="utf-8")
    (out_dir / "latest.json").write_text(json_path.read_text(encoding="utf-8"), encoding="utf-8")
    return md_path, json_path


def rerender(json_path: Path, out_dir: Path) -> tuple[Path, Path]:
    """Rebuild the report of an earlier run from its JSON (after a change to the targets or layout)."""
    from cases import Plan
    from runner import Case
    from targets import evaluate

    doc = json.loads(Path(json_path).read_text(encoding="utf-8"))
    plan = Plan()
    for key, c in doc["cases"].items():
        plan.cases[key] = Case(key, "", c["role"], c["env"], c["spec"], c["argv"], runs=c["runs"])
    for r in doc["rows"]:
        fields = {k: v for k, v in r.items() if k not in ("ratios", "key")}
        plan.rows[r["key"]] = Row(r["key"], **fields)
        if fields["op"] in ("lazy", "convert") and not fields.get("stack_nbytes"):
            plan.rows[r["key"]].stack_nbytes = doc["meta"].get("big_asd_bytes")  # JSON of an older run
    e = doc["environment"]
    tool = e.get("peak_rss_tool")
    env = Environment(
        python=e["python"], drivers=e["drivers"], playnano_python=e["playnano_python"],
        playnano_note=e["playnano_note"], gnu_time=None if tool == "os.wait4 rusage" else tool,
        afmio_cli=[], samples=None, afmio_version=e["afmio_version"], notes=list(e.get("notes", [])),
    )
    inputs = Inputs(Path(json_path).parent, notes=list(doc.get("notes", [])))
    res = Results(plan)
    meta = dict(doc["meta"])
    return write(out_dir, res, evaluate(res, meta["mode"] == "quick"), env, inputs, meta)
