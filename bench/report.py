#!/usr/bin/env python3
"""report.py - run every benchmark in rounds and write a Markdown report.

usage: report.py --out DIR [--rounds N] [--quick] [--info KEY=VALUE]...
                 [--peer-python PYTHON3] [--chart-python PYTHON3|none] PROGRAM...
       report.py --out DIR --from-csv ROUND_DIR... [same options]

The programs run one after the other, and the whole list again for each
round (A B C, A B C, ...); inside each program pyconc and its peer already
alternate trial by trial. Each round runs in DIR/runs/round-N, where the
program leaves its bench_<subsystem>.csv and its output (<program>.txt).
With --from-csv nothing runs: each ROUND_DIR holds one round's CSV files
(and, if present, the programs' .txt output, whose first line names what
each program measures).

DIR/report.md gets the machine (CPU, cores, load average at start and end),
a table per program (per row: the median over rounds and the spread), the
targets judged on those medians, and the scaling rows; DIR/combined.csv the
merged rows. Charts (PNG, matplotlib) come from charts.py beside this file,
run with the first of --chart-python, this interpreter, /usr/bin/python3 or
the python3 on PATH that has matplotlib (--chart-python none: no charts).
Without matplotlib the report says so ("charts skipped: install
python3-matplotlib") and still has every table.
"""
import argparse
import csv
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["program", "kind", "case", "peer", "pyconc_s", "peer_s", "ratio", "pyconc_is",
           "series", "x", "limit", "verdict"]
MATPLOTLIB_MISSING = "charts skipped: install python3-matplotlib"


# >>machine
def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average():
    try:
        return "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "unknown"


def python_version(python):
    """The peer interpreter's version, or what to install."""
    if not python or python.endswith("NOTFOUND"):
        return "not found: install python3"
    try:
        out = subprocess.run([python, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, universal_newlines=True).stdout
    except OSError:
        return "not found: install python3"
    return out.strip().replace("Python ", "") + " (%s)" % python


def machine_facts(info, peer_python):
    facts = [("CPU", cpu_model()), ("cores", str(os.cpu_count())),
             ("kernel", "%s %s" % (platform.system(), platform.release()))]
    try:
        facts.append(("C library", os.confstr("CS_GNU_LIBC_VERSION")))
    except (ValueError, OSError):
        pass
    facts.extend(info)
    if peer_python is not None:
        facts.append(("Python (peer)", python_version(peer_python)))
    return facts


# >>run
def run_program(program, round_dir, quick):
    """Run one program in round_dir; returns (exit code, seconds)."""
    name = os.path.basename(program)
    args = [program] + (["quick"] if quick else [])
    t0 = time.monotonic()
    with open(os.path.join(round_dir, name + ".txt"), "w", encoding="utf-8") as out:
        rc = subprocess.call(args, cwd=round_dir, stdout=out, stderr=subprocess.STDOUT)
    return rc, time.monotonic() - t0


def run_rounds(programs, out_dir, rounds, quick):
    """Every program once per round; returns the round directories and a
    list of problems (a program that exited non-zero)."""
    dirs, problems = [], []
    for r in range(1, rounds + 1):
        round_dir = os.path.join(out_dir, "runs", "round-%d" % r)
        os.makedirs(round_dir, exist_ok=True)
        dirs.append(round_dir)
        for program in programs:
            name = os.path.basename(program)
            print("bench-report: round %d/%d: %s ..." % (r, rounds, name), end="", flush=True)
            rc, took = run_program(program, round_dir, quick)
            print(" %.1f s%s" % (took, "" if rc == 0 else ", exit %d" % rc), flush=True)
            if rc != 0:
                problems.append("%s exited %d in round %d (see %s/%s.txt)"
                                % (name, rc, r, round_dir, name))
    return dirs, problems


# >>read
def number(text):
    return float(text) if text not in ("", None) else None


def read_round(round_dir):
    """Every record of every bench_*.csv in round_dir."""
    records = []
    names = [n for n in os.listdir(round_dir) if n.startswith("bench_") and n.endswith(".csv")]
    # In the order they were written, which is the order the programs ran.
    names.sort(key=lambda n: (os.stat(os.path.join(round_dir, n)).st_mtime_ns, n))
    for name in names:
        with open(os.path.join(round_dir, name), newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != COLUMNS:
                raise SystemExit("report.py: %s/%s has columns %s, not %s"
                                 % (round_dir, name, reader.fieldnames, COLUMNS))
            records.extend(reader)
    return records


def titles(round_dirs):
    """program -> the first line of its output, past 'bench_x - '."""
    out = {}
    for d in round_dirs:
        for name in sorted(os.listdir(d)):
            if name.startswith("bench_") and name.endswith(".txt"):
                with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                    first = f.readline().strip()
                program = name[:-4]
                if first.startswith(program + " - "):
                    out.setdefault(program, first[len(program) + 3:])
    return out


# >>combine
def key_of(rec):
    return (rec["program"], rec["kind"], rec["case"], rec["peer"], rec["series"], rec["x"])


def median_or_none(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def combine(rounds):
    """Merge the rounds: one row per key, in first-seen order, with the
    median times and ratio and the lowest and highest ratio."""
    order, groups = [], {}
    for records in rounds:
        for rec in records:
            k = key_of(rec)
            if k not in groups:
                order.append(k)
                groups[k] = []
            groups[k].append(rec)
    return [merge(groups[k]) for k in order]


def merge(recs):
    """One key's records: the median round, whole, so that its two times
    and its ratio agree (of two middle rounds, the one worse for pyconc),
    and the best and worst ratio."""
    first = recs[0]
    measured = sorted((r for r in recs if number(r["ratio"]) is not None),
                      key=lambda r: number(r["ratio"]))
    row = dict(first)
    row["rounds"] = len(recs)
    row["limit"] = number(first["limit"])
    row["x"] = number(first["x"])
    if measured:
        mid = measured[len(measured) // 2]
        for k in ("pyconc_s", "peer_s", "ratio"):
            row[k] = number(mid[k])
        row["ratio_min"], row["ratio_max"] = (number(measured[0]["ratio"]),
                                              number(measured[-1]["ratio"]))
        row["pyconc_is"] = speed_words(row["ratio"])
    else:
        skipped = [r["pyconc_is"] for r in recs if r["pyconc_is"].startswith("skipped")]
        row["pyconc_s"] = median_or_none([number(r["pyconc_s"]) for r in recs])
        row["peer_s"] = row["ratio"] = row["ratio_min"] = row["ratio_max"] = None
        row["pyconc_is"] = skipped[0] if skipped else "skipped"
    if first["kind"] == "target":
        row["verdict"] = ("skipped" if row["ratio"] is None
                          else "met" if row["ratio"] <= row["limit"] else "not met")
    return row


def write_combined(rows, path):
    cols = COLUMNS + ["ratio_min", "ratio_max", "rounds"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for row in rows:
            w.writerow(["" if row.get(c) is None else
                        ("%.9g" % row[c] if isinstance(row[c], float) else row[c])
                        for c in cols])


# >>words
def speed_words(ratio):
    """'2.31x faster' / '1.12x slower' from pyconc's side (ratio = pyconc / peer)."""
    times = 1 / ratio if ratio <= 1 else ratio
    decimals = 2 if times < 9.995 else 1 if times < 99.95 else 0
    return "%.*fx %s" % (decimals, times, "faster" if ratio <= 1 else "slower")


def spread_words(lo, hi):
    if lo is None:
        return ""
    a, b = speed_words(hi), speed_words(lo)     # the worst round first
    if a == b:
        return a
    if a.split()[1] != b.split()[1]:
        return "%s to %s" % (a, b)
    low, high = sorted([a, b], key=lambda w: float(w.split("x")[0]))
    return "%s to %s" % (low.split()[0], high)


def time_words(s):
    if s is None:
        return "-"
    if s < 1e-6:
        return "%.1f ns" % (s * 1e9)
    if s < 1e-3:
        return "%.2f us" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


def size_words(x):
    """A series' size: 1,000,000 rather than 1e+06."""
    return "{:,.0f}".format(x) if x == int(x) else "%g" % x


def limit_words(limit, peer):
    if limit == 1:
        return "no slower than %s" % peer
    if limit > 1:
        return "<= %.3gx slower than %s" % (limit, peer)
    return ">= %.3gx faster than %s" % (1 / limit, peer)


def cell(text):
    """Text for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(head, rows, right=()):
    """A Markdown table; the columns numbered in right are right-aligned."""
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(head))) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(c) for c in r) + " |")
    return "\n".join(lines)


# >>markdown
def row_table(rows):
    head = ["case", "peer", "pyconc", "peer's", "pyconc is", "over the rounds"]
    body = [(r["case"], r["peer"], time_words(r["pyconc_s"]), time_words(r["peer_s"]),
             "**%s**" % r["pyconc_is"] if r["ratio"] is not None else r["pyconc_is"],
             spread_words(r["ratio_min"], r["ratio_max"])) for r in rows]
    return table(head, body, right=(2, 3))


def target_table(targets):
    body = []
    for t in targets:
        if t["peer"] == "time budget":
            bar = "<= %s per operation" % time_words(t["peer_s"])
            measured = time_words(t["pyconc_s"])
        else:
            bar = limit_words(t["limit"], t["peer"])
            measured = t["pyconc_is"]
        body.append((t["case"], bar, measured, t["verdict"]))
    return table(["case", "target", "measured", "verdict"], body)


def program_section(program, title, rows, charts):
    out = ["## %s" % program, ""]
    if title:
        out += [title, ""]
    plain = [r for r in rows if r["kind"] == "row"]
    targets = [r for r in rows if r["kind"] == "target"]
    chart = "ratios_%s.png" % program
    if chart in charts:
        out += ["![%s: pyconc against each peer](%s)" % (program, chart), ""]
    out += [row_table(plain), ""]
    if targets:
        out += ["Targets, judged on the medians:", "", target_table(targets), ""]
    return out


def scaling_section(rows, charts):
    series = []
    for r in rows:
        if r["kind"] == "row" and r["series"] and r["series"] not in series:
            series.append(r["series"])
    if not series:
        return []
    out = ["## How the cost grows with the work", ""]
    if "scaling.png" in charts:
        out += ["![time per operation as the work grows](scaling.png)", ""]
    for name in series:
        pts = [r for r in rows if r["kind"] == "row" and r["series"] == name]
        body = [(size_words(r["x"]), r["case"], time_words(r["pyconc_s"]),
                 time_words(r["peer_s"]), r["peer"], r["pyconc_is"]) for r in pts]
        out += ["**%s**" % name, "",
                table([name, "case", "pyconc", "peer's", "peer", "pyconc is"], body,
                      right=(0, 2, 3)), ""]
    return out


def report_text(rows, facts, names, how, charts, chart_note, problems):
    """how: (the command that made it, the number of rounds, quick or not)."""
    made_by, round_count, quick = how
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    times = "once" if round_count == 1 else "%d times" % round_count
    out = ["# pyconc benchmark report", "",
           "Made %s by %s (bench/report.py)." % (now, made_by), "",
           "## Machine", "",
           table(["what", "value"], facts), "",
           "## How to read it", "",
           "Each program ran %s, the programs taking turns round by round; inside a" % times,
           "program pyconc and its peer alternate trial by trial and keep their medians.",
           "Every time is per operation. A row shows its median round (of two middle ones,",
           "the one worse for pyconc); \"pyconc is 2.00x faster\" means pyconc took half the",
           "peer's time, and \"over the rounds\" is the best and worst round. A peer that",
           "could not run says what to install.", ""]
    if quick:
        out += ["**Quick runs (smoke-test sizes and few trials): the figures mean little.**",
                ""]
    if problems:
        out += ["**Problems:**", ""] + ["- %s" % p for p in problems] + [""]
    if chart_note:
        out += ["**%s**" % chart_note, ""]
    for program in names:
        rows_of = [r for r in rows if r["program"] == program]
        out += program_section(program, names[program], rows_of, charts)
    out += scaling_section(rows, charts)
    return "\n".join(out) + "\n"


# >>charts
def has_matplotlib(python):
    try:
        return subprocess.call([python, "-c", "import matplotlib"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL) == 0
    except OSError:
        return False


def chart_python(choice):
    if choice == "none":
        return None
    candidates = [choice] if choice else [sys.executable, "/usr/bin/python3",
                                          shutil.which("python3")]
    for python in candidates:
        if python and os.path.exists(python) and has_matplotlib(python):
            return python
    return None


def make_charts(choice, combined, out_dir):
    """Returns (the PNG names made, a note for the report or None)."""
    python = chart_python(choice)
    if not python:
        return [], MATPLOTLIB_MISSING
    cmd = [python, os.path.join(HERE, "charts.py"), combined, out_dir]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True)
    made = [line.strip() for line in res.stdout.splitlines() if line.strip().endswith(".png")]
    if res.returncode != 0:
        return made, "some charts failed (charts.py exited %d)" % res.returncode
    return made, None


# >>main
def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--from-csv", nargs="+", metavar="ROUND_DIR")
    p.add_argument("--info", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--chart-python")
    p.add_argument("--peer-python")
    p.add_argument("programs", nargs="*")
    args = p.parse_args(argv)
    if not args.from_csv and not args.programs:
        p.error("name the bench programs to run, or --from-csv")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def machine_file(round_dirs):
    """Where a run keeps its machine's facts: beside its round directories."""
    return os.path.join(os.path.dirname(os.path.abspath(round_dirs[0])), "machine.csv")


def read_facts(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [tuple(r) for r in csv.reader(f) if len(r) == 2]


def measure(args):
    """Run the programs (or take --from-csv's rounds); returns the round
    directories, the machine's facts and the problems met."""
    info = [tuple(i.split("=", 1)) for i in args.info if "=" in i]
    facts = machine_facts(info, args.peer_python)
    if args.from_csv:
        kept = machine_file(args.from_csv)
        if os.path.exists(kept):
            return args.from_csv, read_facts(kept), []
        return args.from_csv, facts + [("load average now", load_average())], []
    start = load_average()
    round_dirs, problems = run_rounds(args.programs, args.out, args.rounds, args.quick)
    facts += [("load average at start", start), ("load average at end", load_average())]
    with open(machine_file(round_dirs), "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(facts)
    return round_dirs, facts, problems


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    round_dirs, facts, problems = measure(args)
    rows = combine([read_round(d) for d in round_dirs])
    combined = os.path.join(args.out, "combined.csv")
    write_combined(rows, combined)
    names = {}
    found = titles(round_dirs)
    for r in rows:
        names.setdefault(r["program"], found.get(r["program"], ""))
    charts, note = make_charts(args.chart_python, combined, args.out)
    if note:
        print("bench-report: *** %s ***" % note, file=sys.stderr)
    how = ("`report.py --from-csv`" if args.from_csv else
           "`cmake --build build --target bench-report%s`" % ("-quick" if args.quick else ""),
           len(round_dirs), args.quick)
    text = report_text(rows, facts, names, how, charts, note, problems)
    path = os.path.join(args.out, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print("bench-report: %s (%d rows, %d charts)" % (path, len(rows), len(charts)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
