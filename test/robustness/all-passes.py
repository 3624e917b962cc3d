#!/usr/bin/env python3
"""Runs every moe pass and pipeline over every .mlir input of the suite and
fails only on a crash.

usage: all-passes.py MOE_OPT SRC_ROOT

Each (input, pass) pair runs `moe-opt INPUT -split-input-file PASS`. Exit 0 or
1 (diagnostics: bad input, a pass that cannot apply) is fine; a crash is any
other exit status (signals included), a run over the time limit, or stderr
holding an LLVM crash report ("Stack dump", "LLVM ERROR", "UNREACHABLE",
"Assertion ... failed", a sanitizer report). The passes are the fixed list
below plus every `--moe-*` / `--convert-moe-*` flag in `moe-opt --help`, so a
new pass is covered without editing this file.
"""
import concurrent.futures
import glob
import os
import re
import subprocess
import sys

FIXED_PASSES = [
    "--moe-decompose",
    "--moe-decompose=expand-chains=1",
    "--canonicalize",
    "--convert-moe-to-linalg",
    "--moe-cpu-pipeline",
]
CRASH_MARKERS = re.compile(
    r"Stack dump|LLVM ERROR|UNREACHABLE|Assertion .* failed|"
    r"PLEASE submit a bug report|ERROR: AddressSanitizer|runtime error:")
TIMEOUT_S = 300


def discover_passes(moe_opt):
    """The moe pass and pipeline flags moe-opt lists in --help."""
    help_text = subprocess.run([moe_opt, "--help"], capture_output=True,
                               text=True, check=True).stdout
    flags = re.findall(r"^\s+(--(?:moe|convert-moe)-[\w-]+)\s", help_text, re.M)
    passes = list(FIXED_PASSES)
    for flag in flags:
        if flag not in passes:
            passes.append(flag)
    return passes


def inputs(root):
    files = glob.glob(os.path.join(root, "test", "**", "*.mlir"), recursive=True)
    files += glob.glob(os.path.join(root, "examples", "*.mlir"))
    return sorted(os.path.relpath(f, root) for f in files)


def run_one(moe_opt, root, path, flag):
    command = [moe_opt, os.path.join(root, path), "-split-input-file", flag,
               "-o", os.devnull]
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                errors="replace", timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timed out after %d s" % TIMEOUT_S, command
    if result.returncode not in (0, 1):
        return "exit status %d" % result.returncode, command, result.stderr
    match = CRASH_MARKERS.search(result.stderr)
    if match:
        return "stderr has '%s'" % match.group(0), command, result.stderr
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    moe_opt, root = sys.argv[1], sys.argv[2]
    passes = discover_passes(moe_opt)
    files = inputs(root)
    jobs = [(path, flag) for path in files for flag in passes]
    crashes = []
    with concurrent.futures.ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
        futures = {pool.submit(run_one, moe_opt, root, path, flag): (path, flag)
                   for path, flag in jobs}
        for future in concurrent.futures.as_completed(futures):
            failure = future.result()
            if failure:
                crashes.append((futures[future], failure))
    print("all-passes: %d inputs x %d passes = %d runs, %d crashes"
          % (len(files), len(passes), len(jobs), len(crashes)))
    print("passes: " + " ".join(passes))
    for (path, flag), failure in sorted(crashes):
        print("CRASH: %s %s: %s" % (path, flag, failure[0]))
        print("  " + " ".join(failure[1]))
        if len(failure) > 2:
            print("\n".join("  | " + line for line in failure[2].splitlines()[-30:]))
    sys.exit(1 if crashes else 0)


if __name__ == "__main__":
    main()
