#!/usr/bin/env python3
"""`make bench`: times layerpack against Info-ZIP `zip` and Python's `zipfile` on a real layer.

The corpus is numpy, pandas and scipy installed with `pip install --no-compile --target`, kept in
bench/.work/ between runs. Each round runs every measure once, in turn, so that a slow moment on a
shared machine touches all of them alike; the table gives medians over the rounds, ratios to
`zip -r -X -q -6`, output sizes and peak memory (from `/usr/bin/time -v`).
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
CORPUS = WORK / "corpus"
PACKAGES = ["numpy", "pandas", "scipy"]
# The file the incremental build sees changed: a large module of pandas, edited as a developer would.
EDITED = Path("python/pandas/core/frame.py")
GOALS = {"layerpack build --no-cache": 0.25, "layerpack build (one file changed)": 0.05,
         "layerpack check (nothing changed)": 0.03}

PYTHON_ZIPFILE = """
import os, sys, zipfile
root, output = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
    for folder, names, files in os.walk(os.path.join(root, "python")):
        names.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            archive.write(path, os.path.relpath(path, root))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--binary", help="a layerpack binary to time instead of building one with `swift build -c release`")
    parser.add_argument("--scratch-path", help="passed to `swift build` (e.g. .build-speed)")
    args = parser.parse_args()

    for tool, package in [("/usr/bin/time", "time"), ("zip", "zip")]:
        if not shutil.which(tool):
            sys.exit(f"`{tool}` is missing; install it with `apt-get install {package}`.")
    binary = args.binary or build_release(args.scratch_path)
    prepare_corpus()
    out = WORK / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = CORPUS / "layerpack.yml"
    config.write_text("layer_name: bench-scipy\nlayout: python\nsources: [python]\nfilename: ../out/layerpack.zip\n")
    cache = CORPUS / ".layerpack"
    shutil.rmtree(cache, ignore_errors=True)

    edited = CORPUS / EDITED
    original = edited.read_bytes()
    counter = iter(range(1, 1_000_000))

    def edit_one_file():
        edited.write_bytes(original + f"# bench edit {next(counter)}\n".encode())

    def layerpack(command, *arguments):
        return [binary, command, "--config", str(config), *arguments]

    measures = [
        ("layerpack build --no-cache", None, layerpack("build", "--no-cache", "-o", str(out / "full.zip")), out / "full.zip"),
        ("layerpack build (one file changed)", edit_one_file, layerpack("build", "-o", str(out / "incremental.zip")), out / "incremental.zip"),
        ("layerpack check (nothing changed)", None, layerpack("check"), None),
        ("zip -r -X -q -6", lambda: (out / "zip.zip").unlink(missing_ok=True),
         ["zip", "-r", "-X", "-q", "-6", str(out / "zip.zip"), "python"], out / "zip.zip"),
        ("python zipfile (level 6)", None, [sys.executable, "-c", PYTHON_ZIPFILE, str(CORPUS), str(out / "zipfile.zip")],
         out / "zipfile.zip"),
    ]

    try:
        # Warm the page cache and layerpack's caches, so every round starts alike.
        run(layerpack("build", "-o", str(out / "incremental.zip")))
        times = {name: [] for name, *_ in measures}
        memory = {name: [] for name, *_ in measures}
        for round_number in range(1, args.rounds + 1):
            for name, before, command, _ in measures:
                if before:
                    before()
                seconds, kilobytes = run(command)
                times[name].append(seconds)
                memory[name].append(kilobytes)
            print(f"round {round_number}/{args.rounds}: " + ", ".join(f"{n.split(' (')[0]} {times[n][-1]:.3f}s" for n, *_ in measures),
                  file=sys.stderr)
    finally:
        edited.write_bytes(original)

    report(measures, times, memory, args.rounds, binary)


def build_release(scratch_path):
    command = ["swift", "build", "-c", "release", "--product", "layerpack"]
    if scratch_path:
        command += ["--scratch-path", scratch_path]
    subprocess.run(command, cwd=ROOT, check=True)
    bin_path = subprocess.run(command + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return str(Path(bin_path) / "layerpack")


def prepare_corpus():
    marker = CORPUS / ".installed"
    if marker.exists():
        return
    shutil.rmtree(CORPUS, ignore_errors=True)
    print(f"Installing {', '.join(PACKAGES)} into {CORPUS / 'python'} (once; kept between runs)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(CORPUS / "python")] + PACKAGES,
                   check=True)
    marker.write_text(" ".join(PACKAGES) + "\n")


def run(command):
    """Runs `command` in the corpus folder under `/usr/bin/time -v`: wall seconds and peak RSS in KiB."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v"] + command, cwd=CORPUS, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed with status {result.returncode}:\n{result.stderr}")
    peak = next(int(line.split(":")[1]) for line in result.stderr.splitlines() if "Maximum resident set size" in line)
    return seconds, peak


def report(measures, times, memory, rounds, binary):
    baseline = statistics.median(times["zip -r -X -q -6"])
    zip_size = (WORK / "out" / "zip.zip").stat().st_size
    files = sum(len(names) for _, _, names in os.walk(CORPUS / "python"))
    size = sum(p.stat().st_size for p in (CORPUS / "python").rglob("*") if p.is_file())
    print(f"\nCorpus: {' '.join(PACKAGES)} ({files} files, {size / 1e6:.1f} MB) on {platform.machine()}, "
          f"{os.cpu_count()} cores, {cpu_model()}; medians of {rounds} alternating rounds; {binary}\n")
    print("| measure | median | ratio to zip | goal | output | size vs zip | peak memory |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, _, _, output in measures:
        median = statistics.median(times[name])
        goal = f"≤ {GOALS[name]}" if name in GOALS else ""
        if output:
            output_size = output.stat().st_size
            sizes = f"{output_size / 1e6:.2f} MB | {output_size / zip_size:.3f}×"
        else:
            sizes = "– | –"
        print(f"| {name} | {median:.3f} s | {median / baseline:.3f} | {goal} | {sizes} | {max(memory[name]) / 1024:.0f} MiB |")
    if zipfile.is_zipfile(WORK / "out" / "full.zip"):
        with zipfile.ZipFile(WORK / "out" / "full.zip") as archive:
            bad = archive.testzip()
        print(f"\nlayerpack's zip: {'every CRC checks out' if bad is None else 'BAD ENTRY ' + bad} (Python zipfile.testzip)")


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
