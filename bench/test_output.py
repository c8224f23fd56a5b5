#!/usr/bin/env python3
"""test_output.py - the benchmarks' output, checked as a reader would.

usage: test_output.py csv PROGRAM       run PROGRAM quick in a fresh directory;
                                        check its printed rows and its CSV
       test_output.py report REPORT_PY  report.py on known CSV files, no charts
       test_output.py charts REPORT_PY  the same with charts (exit 77 without
                                        a python3 that has matplotlib)

csv: the first line names the program; the header gives the machine and the
rounds; every row ends in "N.NNx faster", "N.NNx slower" or "skipped: ...",
never "0.00x"; every target line reads "target: CASE: <bar> — met|not met|
skipped (...)". The CSV, read with Python's csv module: one header row with
the shared columns, every record that many fields, CRLF line ends, numbers
where numbers belong, each ratio equal to pyconc_s / peer_s and its words
agreeing with it, each verdict agreeing with its limit, and as many rows and
targets as were printed. Exits 1 with every problem listed.
"""
import csv
import math
import os
import re
import subprocess
import sys
import tempfile

COLUMNS = ["program", "kind", "case", "peer", "pyconc_s", "peer_s", "ratio", "pyconc_is",
           "series", "x", "limit", "verdict"]
SPEED = re.compile(r"^(\d+(?:\.\d+)?)x (faster|slower)$")
ROW_END = re.compile(r"  (\d+(?:\.\d+)?x (?:faster|slower)|skipped: \S.*)$")
TARGET = re.compile(r"^target: (.+): (no slower than .+|<= [\d.]+x slower than .+|"
                    r">= [\d.]+x faster than .+|<= .+ per operation) — "
                    r"(met|not met|skipped) \(.+\)$")


class Problems:
    def __init__(self):
        self.items = []

    def check(self, ok, what):
        if not ok:
            self.items.append(what)
        return ok

    def finish(self, what):
        for p in self.items:
            print("FAIL: %s" % p)
        if self.items:
            print("%s: %d problems" % (what, len(self.items)))
            return 1
        print("%s: ok" % what)
        return 0


# >>words  The convention every row follows.
def decimals_for(times):
    return 2 if times < 9.995 else 1 if times < 99.95 else 0


def check_speed(p, words, ratio, where):
    m = SPEED.match(words)
    if not p.check(m, "%s: %r is not 'N.NNx faster/slower'" % (where, words)):
        return
    times, direction = float(m.group(1)), m.group(2)
    want = 1 / ratio if ratio <= 1 else ratio
    p.check(direction == ("faster" if ratio <= 1 else "slower"),
            "%s: %r but ratio %g" % (where, words, ratio))
    p.check(abs(times - want) <= 0.006 * want + 0.006,
            "%s: %r but the times differ by %g" % (where, words, want))
    frac = m.group(1).split(".")[1] if "." in m.group(1) else ""
    p.check(len(frac) == decimals_for(times) or len(frac) == decimals_for(want),
            "%s: %r should keep three significant digits" % (where, words))


def number(p, text, where, positive=True):
    try:
        v = float(text)
    except ValueError:
        p.check(False, "%s: %r is not a number" % (where, text))
        return None
    p.check(math.isfinite(v) and (v > 0 or not positive),
            "%s: %r is not a positive finite number" % (where, text))
    return v


# >>stdout
def printed_lines(p, program, out):
    """Check the header; return the row lines and the target lines."""
    lines = out.splitlines()
    p.check(lines and lines[0].startswith(program + " - ") and len(lines[0]) > len(program) + 8,
            "first line does not name the program and what it measures: %r"
            % (lines[0] if lines else ""))
    head = "\n".join(lines[:8])
    for word in ("machine:", "cores", "load average", "rounds:"):
        p.check(word in head, "the header does not say %r" % word)
    p.check("0.00x" not in out, "a ratio printed as 0.00x")
    rows, in_table = [], False
    for line in lines:
        if line.startswith("case (time per operation)"):
            in_table = True
        elif in_table and not line.strip():
            in_table = False
        elif in_table and not line.startswith("-- "):
            p.check(ROW_END.search(line), "row does not end 'Nx faster/slower' or "
                    "'skipped: ...': %r" % line)
            rows.append(line)
    targets = [line for line in lines if line.startswith("target")]
    for line in targets:
        p.check(TARGET.match(line), "target line not in the one wording: %r" % line)
    p.check(rows, "no rows printed")
    return rows, targets


# >>csv
def check_record(p, rec, program, n):
    where = "CSV record %d (%s / %s)" % (n, rec.get("case"), rec.get("peer"))
    p.check(rec["program"] == program, "%s: program %r" % (where, rec["program"]))
    p.check(rec["kind"] in ("row", "target"), "%s: kind %r" % (where, rec["kind"]))
    p.check(rec["case"] and rec["peer"], "%s: empty case or peer" % where)
    ours = number(p, rec["pyconc_s"], where + " pyconc_s")
    if rec["pyconc_is"].startswith("skipped: "):
        p.check(rec["peer_s"] == "" and rec["ratio"] == "",
                "%s: skipped but has a peer figure" % where)
    else:
        peer = number(p, rec["peer_s"], where + " peer_s")
        ratio = number(p, rec["ratio"], where + " ratio")
        if None not in (ours, peer, ratio):
            p.check(abs(ratio - ours / peer) <= 1e-6 * ratio,
                    "%s: ratio %g is not pyconc_s / peer_s" % (where, ratio))
            check_speed(p, rec["pyconc_is"], ratio, where)
    p.check((rec["series"] == "") == (rec["x"] == ""), "%s: series without x" % where)
    if rec["x"]:
        number(p, rec["x"], where + " x")
    if rec["kind"] == "row":
        p.check(rec["limit"] == "" and rec["verdict"] == "", "%s: a row with a verdict" % where)
        return
    limit = number(p, rec["limit"], where + " limit")
    want = ("skipped" if rec["ratio"] == "" or limit is None
            else "met" if float(rec["ratio"]) <= limit else "not met")
    p.check(rec["verdict"] == want, "%s: verdict %r, should be %r" % (where, rec["verdict"],
                                                                      want))


def check_csv(p, path, program, rows, targets):
    with open(path, "rb") as f:
        raw = f.read()
    p.check(raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n"),
            "CSV lines do not all end with CRLF")
    with open(path, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    p.check(table and table[0] == COLUMNS, "CSV header %r, not %r"
            % (table[0] if table else None, COLUMNS))
    records = []
    for n, fields in enumerate(table[1:], 2):
        if p.check(len(fields) == len(COLUMNS), "CSV record %d has %d fields, not %d: %r"
                   % (n, len(fields), len(COLUMNS), fields)):
            records.append(dict(zip(COLUMNS, fields)))
            check_record(p, records[-1], program, n)
    got_rows = sum(r["kind"] == "row" for r in records)
    got_targets = sum(r["kind"] == "target" for r in records)
    p.check(got_rows == len(rows), "CSV has %d rows, the program printed %d"
            % (got_rows, len(rows)))
    p.check(got_targets == len(targets), "CSV has %d targets, the program printed %d"
            % (got_targets, len(targets)))


def run_csv(program_path):
    program = os.path.basename(program_path)
    p = Problems()
    with tempfile.TemporaryDirectory(prefix="pyconc-bench-") as d:
        res = subprocess.run([program_path, "quick"], cwd=d, stdout=subprocess.PIPE,
                             universal_newlines=True, timeout=170)
        sys.stdout.write(res.stdout)
        p.check(res.returncode == 0, "%s quick exited %d" % (program, res.returncode))
        rows, targets = printed_lines(p, program, res.stdout)
        path = os.path.join(d, program + ".csv")
        if p.check(os.path.exists(path), "no %s.csv written" % program):
            check_csv(p, path, program, rows, targets)
    return p.finish("%s output" % program)


# >>report  Two rounds of a made-up program whose names need quoting.
COMMA = 'enter+run, 1M "big" events'
ROUNDS = [
    [("row", COMMA, "binary heap", 1e-7, 2e-7, "", ""),
     ("row", "a | b", "libuv uv_queue_work", 5e-7, None, "", ""),
     ("row", "throughput, 1 worker", "pthread pool", 2e-7, 1e-7, "pool workers", 1),
     ("row", "throughput, 4 workers", "pthread pool", 3e-7, 4e-7, "pool workers", 4),
     ("target", COMMA, "binary heap", 1e-7, 2e-7, "", 0.3),
     ("target", "cancel", "time budget", 5e-8, 2e-6, "", 1.0)],
    [("row", COMMA, "binary heap", 1e-7, 4e-7, "", ""),
     ("row", "a | b", "libuv uv_queue_work", 5e-7, None, "", ""),
     ("row", "throughput, 1 worker", "pthread pool", 2e-7, 1e-7, "pool workers", 1),
     ("row", "throughput, 4 workers", "pthread pool", 3e-7, 4e-7, "pool workers", 4),
     ("target", COMMA, "binary heap", 1e-7, 4e-7, "", 0.3),
     ("target", "cancel", "time budget", 5e-8, 2e-6, "", 1.0)],
]


def speed_of(ours, peer):
    r = ours / peer
    times = 1 / r if r <= 1 else r
    return "%.*fx %s" % (decimals_for(times), times, "faster" if r <= 1 else "slower")


def write_round_csv(path, records):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for kind, case, peer, ours, theirs, series, extra in records:
            ratio = "" if theirs is None else "%.9g" % (ours / theirs)
            words = "skipped: install libuv1-dev" if theirs is None else speed_of(ours, theirs)
            limit = extra if kind == "target" else ""
            x = extra if series else ""
            verdict = ("" if kind == "row" else "met" if ours / theirs <= limit else "not met")
            w.writerow(["bench_demo", kind, case, peer, "%.9g" % ours,
                        "" if theirs is None else "%.9g" % theirs, ratio, words, series, x,
                        limit, verdict])


# A stand-in bench program: in round N (its working directory round-N) it
# writes round N's CSV and prints its header's first line.
FAKE_PROGRAM = """#!%s
import os, shutil, sys
here = os.path.dirname(os.path.abspath(__file__))
shutil.copy(os.path.join(here, os.path.basename(os.getcwd()) + ".csv"), "bench_demo.csv")
print("bench_demo - a made-up program for the report's test")
"""


def make_report(report_py, d, chart_python):
    """report.py runs the stand-in for two rounds; returns its result, the
    report's text and its directory."""
    fixtures = os.path.join(d, "fixtures")
    os.makedirs(fixtures)
    for i, records in enumerate(ROUNDS, 1):
        write_round_csv(os.path.join(fixtures, "round-%d.csv" % i), records)
    program = os.path.join(fixtures, "bench_demo")
    with open(program, "w", encoding="utf-8") as f:
        f.write(FAKE_PROGRAM % sys.executable)
    os.chmod(program, 0o755)
    out = os.path.join(d, "report")
    cmd = [sys.executable, report_py, "--out", out, "--rounds", "2", "--info",
           "compiler=test cc", "--chart-python", chart_python or "none", program]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=120)
    sys.stdout.write(res.stdout)
    with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
        return res, f.read(), out


def remake_report(report_py, out, chart_python):
    """The same report again from the rounds' CSV files (--from-csv)."""
    rounds = [os.path.join(out, "runs", "round-%d" % i) for i in (1, 2)]
    cmd = [sys.executable, report_py, "--out", out, "--chart-python", chart_python,
           "--from-csv"] + rounds
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=120)
    sys.stdout.write(res.stdout)
    with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
        return res, f.read()


def check_tables(p, text):
    for words in ("## Machine", "| cores |", "| compiler | test cc |", "load average at start",
                  "load average at end", "## bench_demo",
                  "a made-up program for the report's test"):
        p.check(words in text, "report lacks %r" % words)
    # Round ratios 0.5 and 0.25: of the two middle rounds, the one worse for
    # pyconc, whole (its times and its ratio).
    p.check('| enter+run, 1M "big" events | binary heap | 100.0 ns | 200.0 ns | '
            '**2.00x faster** | 2.00x to 4.00x faster |' in text,
            "the quoted case's row is not its median round")
    p.check("| a \\| b | libuv uv_queue_work | 500.0 ns | - | skipped: install libuv1-dev |"
            in text, "the skipped row does not say what to install")
    p.check('| enter+run, 1M "big" events | >= 3.33x faster than binary heap | 2.00x faster '
            '| not met |' in text, "the target is not judged on the median round")
    p.check("| cancel | <= 2.00 us per operation | 50.0 ns | met |" in text,
            "the time budget target is missing")
    p.check("## How the cost grows with the work" in text and "**pool workers**" in text
            and "| 4 | throughput, 4 workers |" in text, "the scaling table is missing")
    p.check("0.00x" not in text, "a ratio printed as 0.00x")


def run_report(report_py):
    p = Problems()
    with tempfile.TemporaryDirectory(prefix="pyconc-report-") as d:
        res, text, out = make_report(report_py, d, "none")
        p.check(res.returncode == 0, "report.py exited %d" % res.returncode)
        check_tables(p, text)
        p.check("round 2/2: bench_demo" in res.stdout, "report.py did not run two rounds")
        p.check("**charts skipped: install python3-matplotlib**" in text,
                "the report does not say the charts were skipped")
        p.check("charts skipped: install python3-matplotlib" in res.stdout,
                "report.py did not say loudly that the charts were skipped")
        p.check("![" not in text, "the report shows charts it did not make")
        # Made again from the kept CSV files: the same tables, the same machine.
        machine = text[text.index("## Machine"):text.index("## How")]
        res, again = remake_report(report_py, out, "none")
        p.check(res.returncode == 0, "report.py --from-csv exited %d" % res.returncode)
        check_tables(p, again)
        p.check(machine in again, "--from-csv did not keep the run's machine and load")
    return p.finish("report tables")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def run_charts(report_py):
    sys.path.insert(0, os.path.dirname(os.path.abspath(report_py)))
    import report  # noqa: E402  (report.py's own search for matplotlib)
    python = report.chart_python(None)
    if not python:
        print("SKIP: no python3 with matplotlib here: install python3-matplotlib")
        return 77
    p = Problems()
    with tempfile.TemporaryDirectory(prefix="pyconc-charts-") as d:
        res, text, out = make_report(report_py, d, python)
        p.check(res.returncode == 0, "report.py exited %d" % res.returncode)
        check_tables(p, text)
        for name in ("ratios_bench_demo.png", "scaling.png"):
            size = png_size(os.path.join(out, name)) if os.path.exists(
                os.path.join(out, name)) else None
            p.check(size and size[0] >= 600 and size[1] >= 150, "%s: not a chart (%r)"
                    % (name, size))
            p.check("](%s)" % name in text, "the report does not show %s" % name)
        p.check("charts skipped" not in text, "charts were made but the report says skipped")
    return p.finish("report charts")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("csv", "report", "charts"):
        sys.exit(__doc__)
    run = {"csv": run_csv, "report": run_report, "charts": run_charts}[argv[1]]
    return run(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
