#!/usr/bin/env python3
"""check.py - pyconc's house rules that a compiler does not check.

usage: check.py ROOT             check the tree at ROOT; exit 1 on any violation
       check.py --fixture DIR    check DIR, a small tree whose lines say what
                                 they break ("expect: RULE"); exit 1 unless
                                 exactly those lines break exactly those rules

The headers checked are ROOT's pyconc.h, pyconc_queue.h, pyconc_futures.h,
pyconc_process.h and pyconc_sched.h (those present); test sources are
ROOT/test/**/*.{c,h,cc} outside test/conventions/fixtures. Each violation
prints as `path:line: [rule] what`. The rules:

  syscall      a raw system call (RAW_CALLS below, and syscall()) in a header
               outside its `// >>posix` section(s); the pc__os_* helpers there
               are the way to the OS. Comments, strings, member calls
               (x.read(), x->close()) and longer names (pc__os_read) are not
               calls of it. pthread_* is the threads API, not a raw call.
  dup-section  a `// >>tag` used twice in one header.
  columns      a line over 100 columns (characters, tabs to 8) in a header or
               a test source.
  prefix       a name `pc__x` defined static at file scope (column 0) in a
               sub-header without the sub-header's prefix (pc__q_, pc__f_,
               pc__p_, pc__s_); pyconc.h's internals are shared and exempt.
  part-order   in pyconc_process.h, code of part X (the lines after a
               `// >>X.` marker, X a capital letter) naming a pc_/PC_/PYCONC_
               name that only a later part defines. Defined: a macro, a type
               or struct/enum tag, an enumerator, a function body, a file-scope
               variable; a prototype is a use, even among the declarations (a
               public function belongs to the part holding its body). Lines
               before the first part marker (the declarations) are not
               checked; the types and macros they define serve every part.

A section marker is a line `// >>tag rest...`; its tag is the first word
(a trailing ':' dropped; a bare part marker `// >>A.` takes the next word
too, as `A.posix`). A posix section is a tag `posix`, `posix-...`/`posix_...`
(or `win32...`, for the OS calls of Windows), with or without a part prefix
(`A.posix`); it runs to the next marker.
"""
import collections
import os
import re
import sys

HEADERS = ["pyconc.h", "pyconc_queue.h", "pyconc_futures.h", "pyconc_process.h",
           "pyconc_sched.h"]
PRIVATE_PREFIX = {"pyconc_queue.h": "pc__q_", "pyconc_futures.h": "pc__f_",
                  "pyconc_process.h": "pc__p_", "pyconc_sched.h": "pc__s_"}
PARTED_HEADER = "pyconc_process.h"
MAX_COLUMNS = 100

# Kernel entry points as libc names them: descriptors and files, memory,
# sockets, polling, processes, signals, clocks and sleeps, and the rest.
RAW_CALLS = set("""
    open openat creat close close_range read write pread pwrite readv writev lseek
    dup dup2 dup3 pipe pipe2 fcntl ioctl stat fstat lstat fstatat ftruncate
    unlink unlinkat mkdir rmdir rename fsync mkstemp mkostemp memfd_create
    shm_open shm_unlink mmap munmap mremap mprotect madvise msync
    socket socketpair bind listen accept accept4 connect shutdown send sendto
    sendmsg recv recvfrom recvmsg getsockopt setsockopt getsockname getpeername
    poll ppoll select pselect epoll_create epoll_create1 epoll_ctl epoll_wait
    eventfd fork vfork _exit _Exit execve execv execvp execvpe execl execlp execle
    fexecve posix_spawn posix_spawnp wait waitpid waitid wait3 wait4 kill tgkill
    getpid getppid gettid setsid setpgid prctl pidfd_open pidfd_send_signal
    sigaction sigprocmask signal raise sigwait sigtimedwait
    clock_gettime clock_nanosleep nanosleep usleep sleep gettimeofday
    sched_yield getrandom getrlimit setrlimit getuid geteuid umask chdir syscall
""".split())

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TRACKED = re.compile(r"^(pc_|PC_|PYCONC_)")


# >>lexing
def strip_code(text):
    """text with comments, string and character literals blanked (newlines
    kept), so positions and line numbers stay those of the file."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
        else:
            i += 1
            continue
        for k in range(i, j):
            if out[k] != "\n":
                out[k] = " "
        i = j
    return "".join(out)


class Source:
    def __init__(self, path, shown):
        self.path, self.shown = path, shown
        self.name = os.path.basename(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        self.raw = text.split("\n")
        self.code = strip_code(text).split("\n")


class Report:
    def __init__(self):
        self.found = []     # (shown path, line, rule, message)

    def add(self, src, line, rule, message):
        self.found.append((src.shown, line, rule, message))


# >>sections
MARKER = re.compile(r"^\s*//\s*>>(\S+)(.*)$")
BARE_PART = re.compile(r"^[A-Z]\.$")
PART = re.compile(r"^([A-Z])\.")
OS_SECTION = re.compile(r"^(?:posix|win32)(?:$|[-_:.])")


def marker_tag(raw_line):
    """The tag of a section marker line, or None."""
    m = MARKER.match(raw_line)
    if not m:
        return None
    tag = m.group(1).rstrip(":")
    rest = m.group(2).split()
    if BARE_PART.match(tag) and rest:
        tag += rest[0].rstrip(":")
    return tag


def sections(src):
    """(line, tag) of each section marker, in order (lines from 1)."""
    out = []
    for i, raw in enumerate(src.raw):
        tag = marker_tag(raw)
        if tag is not None:
            out.append((i + 1, tag))
    return out


def is_posix(tag):
    return bool(OS_SECTION.match(PART.sub("", tag)))


def check_dup_sections(src, report):
    first = {}
    for line, tag in sections(src):
        if tag in first:
            report.add(src, line, "dup-section",
                       "section tag '%s' again (first at line %d)" % (tag, first[tag]))
        else:
            first[tag] = line


# >>syscalls
def call_sites(code_line):
    """(column, name) of each plain call `name(` on a code line: not a
    member (x.name(), x->name()) and not part of a longer name."""
    for m in IDENT.finditer(code_line):
        rest = code_line[m.end():].lstrip()
        if not rest.startswith("("):
            continue
        before = code_line[:m.start()].rstrip()
        if before.endswith(".") or before.endswith("->"):
            continue
        yield m.start(), m.group(0)


def check_syscalls(src, report):
    in_posix = False
    for i, code in enumerate(src.code):
        tag = marker_tag(src.raw[i])
        if tag is not None:
            in_posix = is_posix(tag)
            continue
        if in_posix:
            continue
        for _, name in call_sites(code):
            if name in RAW_CALLS:
                report.add(src, i + 1, "syscall",
                           "raw %s() outside the // >>posix section" % name)


# >>columns
def check_columns(src, report):
    for i, raw in enumerate(src.raw):
        width = len(raw.rstrip("\r").expandtabs(8))
        if width > MAX_COLUMNS:
            report.add(src, i + 1, "columns", "%d columns (at most %d)" % (width, MAX_COLUMNS))


# >>prefix
STATIC_NAME = re.compile(r"\b(pc__[A-Za-z0-9_]*)\s*[(\[=;,)]")
ATTRIBUTE = re.compile(r"__attribute__\s*\(\(.*?\)\)")


def static_names(src):
    """(line, name) of each pc__ name defined static at file scope, once per
    name: a function, a variable, or an unnamed struct variable whose name
    closes its body (`} pc__x;`)."""
    seen, out, pending = set(), [], None
    for i, code in enumerate(src.code):
        if pending is not None and code.startswith("}"):
            m = re.search(r"\b(pc__\w+)", code)
            if m:
                out.append((pending, m.group(1)))
            pending = None
            continue
        if not re.match(r"static\b", code):
            continue
        m = STATIC_NAME.search(ATTRIBUTE.sub("", code))
        if m:
            out.append((i + 1, m.group(1)))
        elif "{" in code and re.search(r"\b(struct|union|enum)\b", code):
            pending = i + 1
    unique = []
    for line, name in out:
        if name not in seen:
            seen.add(name)
            unique.append((line, name))
    return unique


def check_prefix(src, report):
    prefix = PRIVATE_PREFIX.get(src.name)
    if prefix is None:
        return
    for line, name in static_names(src):
        if not name.startswith(prefix):
            report.add(src, line, "prefix",
                       "static %s lacks %s's prefix %s" % (name, src.name, prefix))


# >>parts
def part_of_lines(src):
    """For each line (index from 0), the part letter it is in, or '' before
    the first part marker."""
    parts, part = [], ""
    for raw in src.raw:
        tag = marker_tag(raw)
        if tag is not None and PART.match(tag):
            part = tag[0]
        parts.append(part)
    return parts


def statements(src):
    """File-scope statements that start in column 0 with a name: (first line
    index, last line index, text up to the first ';' or '{', that char)."""
    i, n = 0, len(src.code)
    while i < n:
        if not IDENT.match(src.code[i]):
            i += 1
            continue
        text, j = src.code[i], i
        while not re.search(r"[;{]", text) and j + 1 < n:
            j += 1
            text += " " + src.code[j]
        m = re.search(r"[;{]", text)
        end = m.group(0) if m else ""
        yield i, j, text[:m.end()] if m else text, end
        i = j + 1


def defined_in_statement(text, end):
    """The names a column-0 statement defines (see the module doc)."""
    text = ATTRIBUTE.sub("", text)
    words = text.split()
    if words and words[0] == "extern":
        return []
    fnptr = re.search(r"\(\s*\*\s*(\w+)\s*\)", text)
    if words and words[0] == "typedef":
        if fnptr:
            return [fnptr.group(1)]
        tag = re.match(r"\s*typedef\s+(?:struct|union|enum)\s+(\w+)", text)
        names = [tag.group(1)] if tag else []
        if end == ";":
            names += IDENT.findall(text[:-1])[-1:]
        return names
    tag = re.match(r"\s*(?:static\s+)?(?:struct|union|enum)\s+(\w+)\s*\{", text)
    if tag:
        return [tag.group(1)]
    head = text.split("=")[0]
    if "(" in head and not fnptr:
        before = head[:head.index("(")]
        name = IDENT.findall(before)[-1:]
        return name if end == "{" else []      # a body, not a prototype
    if fnptr:
        return [fnptr.group(1)]
    name = IDENT.findall(head.split("[")[0].rstrip(";"))
    return name[-1:]


def enum_body_names(src, start):
    """Enumerators of the enum whose body opens on line index start."""
    names = []
    for j in range(start + 1, len(src.code)):
        code = src.code[j]
        if code.startswith("}"):
            return names, j
        for m in re.finditer(r"(?:^|,)\s*([A-Za-z_]\w*)\s*(?==|,|$)", code):
            names.append((j, m.group(1)))
    return names, len(src.code) - 1


def definitions(src):
    """{name: [(line index, ...)]} of the tracked names src defines."""
    defs = {}

    def add(j, name):
        if TRACKED.match(name):
            defs.setdefault(name, []).append(j)

    for j, code in enumerate(src.code):
        m = re.match(r"\s*#\s*define\s+(\w+)", code)
        if m:
            add(j, m.group(1))
    for i, j, text, end in statements(src):
        for name in defined_in_statement(text, end):
            add(i, name)
        if end != "{" or not re.match(r"\s*(typedef|enum)\b", text):
            continue
        if re.search(r"\benum\b", text):
            body, close = enum_body_names(src, j)
            for k, name in body:
                add(k, name)
        else:
            close = next((k for k in range(j + 1, len(src.code))
                          if src.code[k].startswith("}")), None)
        closing = re.match(r"\}\s*(\w+)\s*;", src.code[close]) if close is not None else None
        if closing and text.lstrip().startswith("typedef"):
            add(close, closing.group(1))
    return defs


def uses(code_line):
    """Tracked names a code line names, not as members (x.n, x->n)."""
    for m in IDENT.finditer(code_line):
        before = code_line[:m.start()].rstrip()
        if before.endswith(".") or before.endswith("->"):
            continue
        if TRACKED.match(m.group(0)):
            yield m.group(0)


def check_parts(src, report):
    if src.name != PARTED_HEADER:
        return
    parts = part_of_lines(src)
    if not any(parts):
        return
    rank = {p: (ord(p) if p else 0) for p in set(parts)}
    home = {}                   # name -> earliest part defining it
    for name, lines in definitions(src).items():
        home[name] = min((rank[parts[j]] for j in lines), default=0)
    for i, code in enumerate(src.code):
        if not parts[i] or code.lstrip().startswith("#include"):
            continue
        flagged = set()
        for name in uses(code):
            if name in home and home[name] > rank[parts[i]] and name not in flagged:
                flagged.add(name)
                report.add(src, i + 1, "part-order", "part %s uses %s of part %s" % (
                    parts[i], name, chr(home[name])))


# >>driver
def tree_files(root):
    headers = [os.path.join(root, h) for h in HEADERS if os.path.isfile(os.path.join(root, h))]
    tests = []
    test_dir = os.path.join(root, "test")
    fixtures = os.path.join(test_dir, "conventions", "fixtures")
    for dirpath, dirnames, filenames in os.walk(test_dir):
        dirnames[:] = sorted(d for d in dirnames if os.path.join(dirpath, d) != fixtures)
        tests += [os.path.join(dirpath, f) for f in sorted(filenames)
                  if f.endswith((".c", ".h", ".cc"))]
    return headers, tests


def check_tree(root):
    report = Report()
    headers, tests = tree_files(root)
    for path in headers:
        src = Source(path, os.path.relpath(path, root))
        for check in (check_syscalls, check_dup_sections, check_columns, check_prefix,
                      check_parts):
            check(src, report)
    for path in tests:
        check_columns(Source(path, os.path.relpath(path, root)), report)
    return report, headers + tests


EXPECT = re.compile(r"expect:\s*([a-z-]+(?:\s*,\s*[a-z-]+)*)")


def expectations(root, files):
    """Counter of (path, line, rule) the fixture's `expect:` notes name."""
    want = collections.Counter()
    for path in files:
        shown = os.path.relpath(path, root)
        with open(path, encoding="utf-8", errors="replace") as f:
            for i, raw in enumerate(f.read().split("\n")):
                m = EXPECT.search(raw)
                if m:
                    for rule in m.group(1).split(","):
                        want[(shown, i + 1, rule.strip())] += 1
    return want


def run_fixture(root):
    report, files = check_tree(root)
    if not files:
        print("fixture %s has no files" % root)
        return 1
    got = collections.Counter((p, l, r) for p, l, r, _ in report.found)
    want = expectations(root, files)
    for p, l, r, msg in sorted(report.found):
        print("%s:%d: [%s] %s%s" % (p, l, r, msg, "" if want[(p, l, r)] else "  UNEXPECTED"))
    for (p, l, r), n in sorted((want - got).items()):
        print("%s:%d: [%s] expected %d more, not reported" % (p, l, r, n))
    ok = got == want
    print("fixture %s: %s (%d expected, %d reported)" % (
        os.path.basename(os.path.normpath(root)), "ok" if ok else "FAILED",
        sum(want.values()), sum(got.values())))
    return 0 if ok else 1


def run_tree(root):
    report, _ = check_tree(root)
    counts = {}
    for p, l, r, msg in report.found:
        print("%s:%d: [%s] %s" % (p, l, r, msg))
        counts[r] = counts.get(r, 0) + 1
    if not report.found:
        print("conventions: clean")
        return 0
    print("conventions: %d violations (%s)" % (
        len(report.found), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    return 1


def main(argv):
    if len(argv) == 3 and argv[1] == "--fixture":
        return run_fixture(argv[2])
    if len(argv) == 2 and not argv[1].startswith("-"):
        return run_tree(argv[1])
    sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
