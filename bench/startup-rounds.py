#!/usr/bin/env python3
"""Start-up figures on a shared machine: runs commands in alternating rounds and prints, per
command, the median and minimum of its wall time and of its CPU time (user + system, from the
child's rusage), and its ratios to the first command's wall time.

Usage: bench/startup-rounds.py ROUNDS NAME 'COMMAND' [NAME 'COMMAND']...
  e.g. bench/startup-rounds.py 25 java "$JAVA_HOME/bin/java -version" info "bin/qcow4j info x.qcow2"
A first round warms the page cache and is not counted; the commands' output is discarded; a
command that fails is reported on stderr. Each COMMAND is split as a shell would (shlex), not run
by one: give bin/qcow4j's own java command line (bash -x bin/qcow4j ... shows it) to leave the
launcher out.
"""
import os
import shlex
import statistics
import sys
import time


def main():
    if len(sys.argv) < 4 or len(sys.argv) % 2 != 0:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    commands = list(zip(sys.argv[2::2], sys.argv[3::2]))
    walls = {name: [] for name, _ in commands}
    cpus = {name: [] for name, _ in commands}
    null = os.open(os.devnull, os.O_WRONLY)
    for round_number in range(rounds + 1):
        for name, command in commands:
            argv = shlex.split(command)
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os.dup2(null, 1)
                os.dup2(null, 2)
                try:
                    os.execvp(argv[0], argv)
                finally:
                    os._exit(127)
            _, status, usage = os.wait4(pid, 0)
            wall = (time.perf_counter() - start) * 1000
            if status != 0:
                print(f"{name}: exit status {status}", file=sys.stderr)
            if round_number > 0:
                walls[name].append(wall)
                cpus[name].append((usage.ru_utime + usage.ru_stime) * 1000)
    first = commands[0][0]
    base_median, base_min = statistics.median(walls[first]), min(walls[first])
    print(f"{'command':24s} {'wall med':>9s} {'min':>7s} {'cpu med':>8s} {'min':>7s} {'x med':>6s} {'x min':>6s}  (ms)")
    for name, _ in commands:
        wall, cpu = walls[name], cpus[name]
        print(f"{name:24s} {statistics.median(wall):9.1f} {min(wall):7.1f} {statistics.median(cpu):8.1f} {min(cpu):7.1f}"
              f" {statistics.median(wall) / base_median:6.2f} {min(wall) / base_min:6.2f}")
    print("load average after:", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
