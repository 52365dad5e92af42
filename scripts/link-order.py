#!/usr/bin/env python3
"""Regenerates cli/link-order.ld, the list of functions a sidecar runs, which cli/build.rs hands
to the linker so that they sit next to each other in the release binary.

Why: the kernel maps an executable's code in blocks (64 KiB fault-around, larger when the page
cache holds the file in large folios), so one function run at start-up keeps the whole block
in the process's RSS. Without an order, the few MB of code a sidecar runs are spread over most
of the 14 MB of .text and nearly all of it ends up resident (BENCHMARKS.md, "Sidecar RSS").

How: build the full and the slim binary without the order (KAFKA_OBS_PLAIN_LINK=1), run each
as the JMX bench's sidecar (jmx receiver -> file exporter against the scenario JVM) under
valgrind's callgrind, take every function that executed, and write one linker-script pattern
per function, the union of both builds. Symbols are v0-mangled (.cargo/config.toml), so a
name carries a generic instance's type arguments and a pattern matches that instance only. The
patterns drop what changes with the profile, the features, Cargo.lock and the rustc version:
crate disambiguators (`Cs<base62>_`), v0 back-references (`B<base62>_`), legacy symbol hashes
(`17h<16 hex>E`) and `.llvm.<n>` suffixes. Patterns that match only functions that ran come
first, those that match more after them, densest first. A function that no longer exists
simply matches nothing.

    scripts/link-order.py            # build, profile, write cli/link-order.ld
    cargo build --release -p kafka-obs   # relinks the binary with it

Needs valgrind, a JDK (javac, java) and nm (binutils). Regenerate when the sidecar's code path
changes a lot (BENCHMARKS.md shows how to check the figure).
"""

import argparse
import bisect
import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "cli" / "link-order.ld"

# Code valgrind cannot run the way the machine does: it lacks SHA-NI, so the JMX client's SHA-1
# takes sha1's portable path under valgrind and the x86 one natively. Their whole modules go in.
EXTRA_PATTERNS = ["_ZN4sha18compress*"]

CONFIG = """receivers:
  jmx:
    endpoint: 127.0.0.1:{jmx_port}
    target_system: kafka-producer,kafka-consumer,jvm
    collection_interval: 2s
    rules:
      - bean: com.example.orders:type=OrderMetrics
        prefix: orders.
        mapping:
          orders-processed-count: {{metric: processed, type: counter}}
          order-validation-failures: {{metric: validation.failures, type: counter}}
          inventory-check-latency: {{metric: inventory.check.latency, unit: ms}}
          payment-gateway-calls: {{metric: payment.gateway.calls, type: counter}}
          payment-gateway-failures: {{metric: payment.gateway.failures, type: counter}}
exporters:
  file:
    path: {out}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics_port}
  pipelines:
    metrics:
      receivers: [jmx]
      exporters: [file]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def build():
    """The full and the slim build, linked without the order (their function names differ a
    little: generic instances and impl numbering follow the crates' features)."""
    env = dict(os.environ, KAFKA_OBS_PLAIN_LINK="1")
    out = []
    for name, flags in [("full", []), ("slim", ["--no-default-features"])]:
        subprocess.run(
            ["cargo", "build", "--release", "-p", "kafka-obs", *flags], cwd=ROOT, env=env, check=True
        )
        copy = target_dir() / "release" / f"kafka-obs.{name}-unordered"
        shutil.copy2(target_dir() / "release" / "kafka-obs", copy)
        out.append(copy)
    return out


def start_jvm(tmp):
    classes = tmp / "scenario"
    subprocess.run(
        ["javac", "-d", str(classes), *map(str, sorted((ROOT / "scenario").glob("*.java")))],
        check=True,
    )
    port = free_port()
    jvm = subprocess.Popen(
        [
            "java",
            f"-Dcom.sun.management.jmxremote.port={port}",
            f"-Dcom.sun.management.jmxremote.rmi.port={port}",
            "-Dcom.sun.management.jmxremote.authenticate=false",
            "-Dcom.sun.management.jmxremote.ssl=false",
            "-Djava.rmi.server.hostname=127.0.0.1",
            "-Xmx64m",
            "-cp",
            str(classes),
            "ScenarioMain",
            "--paused",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = jvm.stdout.readline()
    if not line.startswith("READY "):
        jvm.kill()
        sys.exit(f"the scenario JVM did not start: {line!r}")
    return jvm, port


def profile(binary, jmx_port, tmp, seconds):
    """Runs the sidecar under callgrind; returns the callgrind output path."""
    config = tmp / "config.yaml"
    metrics = tmp / "metrics.jsonl"
    config.write_text(CONFIG.format(jmx_port=jmx_port, out=metrics, metrics_port=free_port()))
    out = tmp / "callgrind.out"
    proc = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--dump-instr=yes",
            f"--callgrind-out-file={out}",
            str(binary),
            "--config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit("the sidecar did not stop within 120 s of SIGINT")
    polls = len(metrics.read_text().splitlines()) if metrics.exists() else 0
    if polls < 2:
        sys.exit(f"the sidecar wrote {polls} polls under valgrind; give it more --seconds")
    print(f"profiled {seconds} s under callgrind, {polls} polls written")
    return out


def executed_addresses(callgrind_out, binary):
    """Instruction addresses (file virtual addresses) callgrind saw executing in `binary`."""
    names, current, last, addrs = {}, "", 0, set()
    target = str(Path(binary).resolve())
    for line in open(callgrind_out, encoding="utf-8", errors="replace"):
        if line.startswith(("ob=", "cob=")):
            m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?", line.strip())
            if m.group(3):
                names[m.group(2)] = m.group(3)
            if m.group(1) == "ob":
                current = names.get(m.group(2), "")
            continue
        if not line or line[0] not in "0123456789+-*":
            continue
        token = line.split()[0]
        if token.startswith("0x"):
            addr = int(token, 16)
        elif token[0] == "+":
            addr = last + int(token[1:])
        elif token[0] == "-":
            addr = last - int(token[1:])
        elif token == "*":
            addr = last
        else:
            continue
        last = addr
        if current == target:
            addrs.add(addr)
    return addrs


def functions(binary):
    """(start, size, [names]) of every sized code symbol, aliases together, by address."""
    nm = subprocess.run(
        ["nm", "-S", "--defined-only", str(binary)], capture_output=True, text=True, check=True
    ).stdout
    by_addr = collections.defaultdict(lambda: [0, []])
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW" and int(parts[1], 16) > 0:
            entry = by_addr[int(parts[0], 16)]
            entry[0] = max(entry[0], int(parts[1], 16))
            entry[1].append(parts[3])
    return sorted((a, s, n) for a, (s, n) in by_addr.items())


def pattern(name):
    name = re.sub(r"17h[0-9a-f]{16}E(\.llvm\.\d+)?$", "17h*", name)
    name = re.sub(r"\.llvm\.\d+$", "*", name)
    name = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", name)
    if name.startswith("_R"):
        # v0 back-references (`B<offset>_`) count bytes of the name, so they move when a crate
        # disambiguator changes length.
        name = re.sub(r"B[0-9A-Za-z]*_", "B*_", name)
    return name


def ran_patterns(funcs, addrs):
    """Patterns of the functions that ran, in address order, and whether each matches only
    functions that ran (a single) or more (a generic family, with its share that ran)."""
    starts = [f[0] for f in funcs]
    ran = set()
    for addr in addrs:
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < funcs[i][0] + funcs[i][1]:
            ran.add(i)
    if len(ran) < 500:
        sys.exit(f"only {len(ran)} functions attributed to the binary: did callgrind see it?")
    matched = collections.Counter()  # bytes of all functions each pattern matches
    for _, size, names in funcs:
        for p in {pattern(n) for n in names}:
            matched[p] += size
    used = collections.Counter()  # bytes of the functions that ran, per pattern
    order = []
    for i in sorted(ran):
        for p in {pattern(n) for n in funcs[i][2]}:
            if p not in used:
                order.append(p)
            used[p] += funcs[i][1]
    share = {p: used[p] / matched[p] for p in order}
    ran_bytes = sum(funcs[i][1] for i in ran)
    print(
        f"{len(ran)} functions ran ({ran_bytes // 1024} KiB), "
        f"{sum(matched[p] for p in order) // 1024} KiB matched by their patterns"
    )
    return order, share


def write_script(profiles, out, seconds):
    """One script for every profiled build: the union of their patterns."""
    order, share = [], {}
    for build_order, build_share in profiles:
        for p in build_order:
            if p not in share:
                order.append(p)
            share[p] = max(share.get(p, 0.0), build_share[p])
    single = [p for p in order if share[p] >= 1.0]
    families = sorted((p for p in order if share[p] < 1.0), key=lambda p: -share[p])
    with open(out, "w") as f:
        f.write(
            "/* Generated by scripts/link-order.py: do not edit. The functions a sidecar runs\n"
            f"   (jmx -> file, {seconds} s under callgrind, full and slim builds), placed together\n"
            "   before .text by cli/build.rs on x86_64 Linux release builds. Why: BENCHMARKS.md,\n"
            "   sidecar RSS. */\n"
        )
        f.write("SECTIONS\n{\n  .text.sidecar : {\n")
        for p in single + families + EXTRA_PATTERNS:
            f.write(f"    *(.text.{p} .text.unlikely.{p})\n")
        f.write("  }\n}\nINSERT BEFORE .text;\n")
    print(f"{len(single)} single patterns and {len(families)} generic families -> {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--bin",
        action="append",
        help="profile this binary (linked without the order) instead of building; repeatable",
    )
    ap.add_argument("--seconds", type=int, default=40, help="how long the sidecar runs (default 40)")
    ap.add_argument("--out", default=str(OUT), help=f"where to write (default {OUT})")
    args = ap.parse_args()
    binaries = [Path(b) for b in args.bin] if args.bin else build()
    profiles = []
    with tempfile.TemporaryDirectory(prefix="link-order.") as tmp:
        tmp = Path(tmp)
        jvm, port = start_jvm(tmp)
        try:
            for binary in binaries:
                callgrind_out = profile(binary, port, tmp, args.seconds)
                addrs = executed_addresses(callgrind_out, binary)
                profiles.append(ran_patterns(functions(binary), addrs))
        finally:
            jvm.kill()
            jvm.wait()
    write_script(profiles, args.out, args.seconds)


if __name__ == "__main__":
    main()
