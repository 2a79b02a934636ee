#!/usr/bin/env python3
"""Runs a command and, when it exits, writes its peak resident memory in MiB to a file.

    peak-rss.py <file> <command> [args...]

Exits as the command did. SIGTERM and SIGINT are passed on to it, so a stop is measured too:
the figure is the kernel's high-water mark over the command's whole life.
"""
import os
import signal
import sys

out, command = sys.argv[1], sys.argv[2:]
child = os.fork()
if child == 0:
    os.execvp(command[0], command)
for number in (signal.SIGTERM, signal.SIGINT):
    signal.signal(number, lambda received, _frame: os.kill(child, received))
_, status, usage = os.wait4(child, 0)
with open(out, "w") as f:
    f.write(f"{usage.ru_maxrss / 1024:.1f}\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
