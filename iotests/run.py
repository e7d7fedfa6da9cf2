#!/usr/bin/env python3
"""Runs QEMU's own iotests with qcow4j standing in for qemu-img, qemu-io and qemu-nbd.

bin/iotests is the entry point (it builds the tool and finds the suite); this script runs a list
of "FORMAT TEST" pairs through the suite's `check`, one process group per test, with links named
qemu-img, qemu-io and qemu-nbd to bin/qcow4j first on PATH and in the QEMU_*_PROG variables the
suite reads, prints a line per test and a summary, and can write the results table of the project
(iotests/RESULTS.md). See "QEMU's iotests" in README.md.
"""

import argparse
import concurrent.futures
import datetime
import difflib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# QEMU 7.2's block drivers, as its qemu-img --help lists them: what the stand-in for qemu-system
# answers to the tests' `-drive format=help`, so that a test's driver requirements are judged as
# they are with QEMU's own tools (the lists in this directory were made that way).
QEMU_DRIVERS = ("blkdebug blklogwrites blkverify bochs cloop compress copy-before-write copy-on-read dmg file"
                " ftp ftps gluster host_cdrom host_device http https iscsi iser luks nbd nfs null-aio"
                " null-co nvme parallels preallocate qcow qcow2 qed quorum raw rbd replication"
                " snapshot-access ssh throttle vdi vhdx vmdk vpc vvfat")

# There is no VM and no storage daemon here: the stand-in answers the runner's `-machine help`
# (no machines) and `-drive format=help`, and fails everything else, so tests that need a VM fail
# or are skipped as they are with QEMU's tools and no qemu-system.
NO_QEMU_SYSTEM = """#!/bin/sh
[ "$*" = "-machine help" ] && exit 0
case " $* " in
  *" -drive format=help "*)
    echo "Supported formats: %s"
    echo "Supported formats (read-only): %s"
    exit 0 ;;
esac
echo "qemu-system and qemu-storage-daemon are not part of the qcow4j iotests setup" >&2
exit 1
""" % (QEMU_DRIVERS, QEMU_DRIVERS)

# What the harness must not inherit from the caller's environment: options it would add to every tool.
UNSET = ("IMGOPTS", "QEMU_IMG_OPTIONS", "QEMU_IO_OPTIONS", "QEMU_NBD_OPTIONS", "GDB_OPTIONS",
         "QEMU_OPTIONS", "IMGFMT", "IMGPROTO", "TEST_DIR", "SOCK_DIR")

# Names the environment of every process a test starts carry, so that servers that left the
# test's process group (a qemu-nbd --fork) are found and ended with it.
MARK = "QCOW4J_IOTESTS_RUN"


class Entry:
    """One line of a list: a test of a format, and why qcow4j differs from QEMU there on purpose."""

    def __init__(self, fmt, test, deliberate=""):
        self.fmt = fmt
        self.test = test
        self.deliberate = deliberate

    @property
    def key(self):
        return f"{self.fmt}-{self.test.replace('/', '_')}"


class Result:
    def __init__(self, entry, status, seconds, difference):
        self.entry = entry
        self.status = status
        self.seconds = seconds
        self.difference = difference


def read_list(path):
    """Reads "FORMAT TEST [deliberate difference]" lines; '#' starts a comment line."""
    entries = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 2)
        if len(words) < 2:
            sys.exit(f"{path}:{number}: expected 'FORMAT TEST', got {line!r}")
        entries.append(Entry(words[0], words[1], words[2] if len(words) > 2 else ""))
    return entries


def first_difference(expected_path, produced_path):
    """The first expected (-) and produced (+) lines of the first hunk of the test's diff."""
    def lines(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return [line.rstrip() for line in f]
        except OSError:
            return None

    expected, produced = lines(expected_path), lines(produced_path)
    if expected is None or produced is None:
        return "(no output to compare)"
    minus = plus = None
    hunks = 0
    for line in difflib.unified_diff(expected, produced, lineterm=""):
        if line.startswith(("---", "+++", " ")):
            continue
        if line.startswith("@@"):
            hunks += 1
            if hunks > 1:
                break
        elif line.startswith("-") and minus is None:
            minus = line
        elif line.startswith("+") and plus is None:
            plus = line
    if minus is None and plus is None:
        return "(output matches; the test failed otherwise)"
    return " | ".join(text[:160] for text in (minus, plus) if text is not None)


def end_marked_processes(token):
    """Ends the processes whose environment carries this test's mark (servers that detached)."""
    me = os.getpid()
    needle = f"{MARK}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def end_group(pgid):
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(20):
        time.sleep(0.1)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Runner:
    def __init__(self, suite, tool, timeout, keep_dir):
        self.suite = Path(suite).resolve()
        self.tool = Path(tool).resolve()
        self.timeout = timeout
        self.keep_dir = Path(keep_dir) if keep_dir else None
        self.print_lock = threading.Lock()
        # Names without dots: tests 197 and 215 refuse a TEST_DIR outside [-_a-zA-Z0-9/].
        self.work = Path(tempfile.mkdtemp(prefix="qcow4jiotests"))
        self.bin = self.work / "bin"
        self.bin.mkdir()
        # check writes into its own directory: each run gets a copy; python/ is found beside tests/
        self.copy = self.work / "qemu" / "tests" / "qemu-iotests"
        shutil.copytree(self.suite, self.copy, symlinks=True)
        python = self.suite.parent.parent / "python"
        if python.is_dir():
            (self.work / "qemu" / "python").symlink_to(python)
        for name in ("qemu-img", "qemu-io", "qemu-nbd"):
            (self.bin / name).symlink_to(self.tool)
        stand_in = self.bin / "no-qemu-system"
        stand_in.write_text(NO_QEMU_SYSTEM)
        stand_in.chmod(0o755)
        if self.keep_dir:
            self.keep_dir.mkdir(parents=True, exist_ok=True)

    def close(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def environment(self, test_dir, sock_dir, token):
        env = {k: v for k, v in os.environ.items() if k not in UNSET}
        env.update({
            "PATH": f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}",
            "TEST_DIR": str(test_dir),
            "SOCK_DIR": str(sock_dir),
            "QEMU_PROG": str(self.bin / "no-qemu-system"),
            "QSD_PROG": str(self.bin / "no-qemu-system"),
            "QEMU_IMG_PROG": str(self.bin / "qemu-img"),
            "QEMU_IO_PROG": str(self.bin / "qemu-io"),
            "QEMU_NBD_PROG": str(self.bin / "qemu-nbd"),
            "LC_ALL": "C",
            MARK: token,
        })
        return env

    def run(self, entry):
        scratch = Path(tempfile.mkdtemp(prefix=f"t{entry.key.replace('.', '_')}", dir=self.work))
        # short: a unix socket's path must stay under 108 bytes
        sock_dir = Path(tempfile.mkdtemp(prefix="qs"))
        log_path = self.work / f"{entry.key}.log"
        token = scratch.name
        start = time.monotonic()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "./check", "--color=off", f"-{entry.fmt}", entry.test],
                cwd=self.copy, env=self.environment(scratch, sock_dir, token),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            timed_out = False
            try:
                process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                end_group(process.pid)
                process.wait()
        seconds = time.monotonic() - start
        # whatever the test left running: its group, then what detached from it
        end_group(process.pid)
        end_marked_processes(token)
        log_text = log_path.read_text(errors="replace")
        name = entry.test.rsplit("/", 1)[-1]
        if timed_out:
            status = "timeout"
        elif "Passed all 1 iotests" in log_text:
            status = "pass"
        elif "\nNot run:" in "\n" + log_text:
            status = "not run"
        else:
            status = "fail"
        difference = ""
        if status != "pass":
            test_path = entry.test if entry.test[0].isdigit() else f"tests/{entry.test}"
            expected = self.copy / f"{test_path}.out"
            if (self.copy / f"{test_path}.out.{entry.fmt}").exists():
                expected = self.copy / f"{test_path}.out.{entry.fmt}"
            produced = scratch / f"{name}.out.bad"
            if status == "not run":
                reason = scratch / f"{name}.notrun"
                difference = reason.read_text().strip() if reason.exists() else ""
            else:
                difference = first_difference(expected, produced)
                if timed_out:
                    difference = f"timeout after {self.timeout}s; {difference}"
            if self.keep_dir and produced.exists():
                shutil.copy(produced, self.keep_dir / f"{entry.key}.out.bad")
        if self.keep_dir:
            shutil.copy(log_path, self.keep_dir / f"{entry.key}.log")
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(sock_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)
        with self.print_lock:
            print(f"{entry.fmt:6} {entry.test:28} {status:8} {seconds:6.1f}s", file=sys.stderr, flush=True)
        return Result(entry, status, seconds, difference)


def git_commit(root):
    # a run from an exported copy of the tree names its commit itself
    if os.environ.get("QCOW4J_IOTESTS_COMMIT"):
        return os.environ["QCOW4J_IOTESTS_COMMIT"]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return commit + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cell(text):
    return text.replace("|", "\\|").replace("`", "'").strip()


HISTORY = "## History"
LATEST = "## Latest run"


def write_results(path, results, list_name, suite, commit, elapsed):
    """Rewrites the table of the results file and adds a line to its history; the text above stays."""
    path = Path(path)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    passed = sum(1 for r in results if r.status == "pass")
    old = path.read_text() if path.exists() else ""
    head, _, rest = old.partition(HISTORY + "\n")
    if not _:
        head = "# QEMU's iotests with qcow4j\n\n"
        rest = ""
    history, _, _ = rest.partition(LATEST)
    history_lines = [line for line in history.strip().splitlines() if line.startswith("|")]
    if not history_lines:
        history_lines = ["| date | commit | list | passed | failed |", "|---|---|---|---|---|"]
    history_lines.append(f"| {today} | {commit} | {list_name} | {passed} | {len(results) - passed} |")
    table = [
        f"{LATEST}",
        "",
        f"{today}, qcow4j {commit}, list `{list_name}`, suite `{suite}`: "
        f"**{passed} of {len(results)} passed** in {elapsed:.0f}s.",
        "",
        "| format | test | result | seconds | first difference (-QEMU +qcow4j) | deliberate difference from QEMU |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        table.append(f"| {r.entry.fmt} | {r.entry.test} | {r.status} | {r.seconds:.1f} | "
                     f"{cell(r.difference)} | {cell(r.entry.deliberate)} |")
    path.write_text(head + HISTORY + "\n\n" + "\n".join(history_lines) + "\n\n" + "\n".join(table) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", required=True, help="QEMU's tests/qemu-iotests")
    parser.add_argument("--tool", required=True, help="bin/qcow4j")
    parser.add_argument("--list", help="a list file of 'FORMAT TEST' lines")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per test")
    parser.add_argument("--keep", help="directory for each test's log and each failure's .out.bad")
    parser.add_argument("--results", help="results file (markdown) to update")
    parser.add_argument("pairs", nargs="*", help="FORMAT TEST ... (instead of a list)")
    args = parser.parse_args()

    if args.pairs:
        if len(args.pairs) % 2:
            sys.exit("run.py: give tests as FORMAT TEST pairs, e.g. qcow2 004 raw 005")
        entries = [Entry(args.pairs[i], args.pairs[i + 1]) for i in range(0, len(args.pairs), 2)]
        list_name = "command line"
    elif args.list:
        entries = read_list(args.list)
        list_name = Path(args.list).name
    else:
        sys.exit("run.py: give --list or FORMAT TEST pairs")
    if not entries:
        sys.exit("run.py: nothing to run")

    runner = Runner(args.suite, args.tool, args.timeout, args.keep)
    start = time.monotonic()
    interrupted = False
    results = []
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(runner.run, entries))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runner.close()
    if interrupted:
        sys.exit(130)
    elapsed = time.monotonic() - start

    failed = [r for r in results if r.status != "pass"]
    for r in failed:
        print(f"FAIL {r.entry.fmt}/{r.entry.test}: {r.status}: {r.difference}", file=sys.stderr)
    if args.results:
        root = Path(__file__).resolve().parent.parent
        write_results(args.results, results, list_name, Path(args.suite).resolve().parent.parent.name,
                      git_commit(root), elapsed)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed ({elapsed:.0f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
