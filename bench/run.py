#!/usr/bin/env python3
"""`make bench`: times layerpack against Info-ZIP `zip` and Python's `zipfile` on layers of several shapes.

Shapes (`--shape`, default all):
  scipy        numpy, pandas and scipy installed with `pip install --no-compile --target`
  small-files  100,000 files of 1-20 KB sliced (fixed seed) from the scipy shape's text files
  big-file     one 100 MiB file concatenated from the scipy shape's `.so` files
  1k-files     1,000 files of 1-20 KB, made like small-files
The corpora are kept in bench/.work/ between runs. Each round runs every measure once, in turn, so
that a slow moment on a shared machine touches all of them alike; the table gives medians over the
rounds, ratios to `zip -r -X -q -6`, output sizes and peak memory (from `/usr/bin/time -v`).
"""

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
PACKAGES = ["numpy", "pandas", "scipy"]
SCIPY = WORK / "corpus"
TEXT_SUFFIXES = {".py", ".pyi", ".txt", ".c", ".h", ".cpp", ".pxd", ".pyx", ".f", ".rst", ".csv", ".json"}

PYTHON_ZIPFILE = """
import os, sys, zipfile
root, top, output = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
    for folder, names, files in os.walk(os.path.join(root, top)):
        names.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            archive.write(path, os.path.relpath(path, root))
"""


class Shape:
    """A corpus: a folder holding `top` (what zip packs), the layerpack config (its `source` puts the
    files at the paths zip gives them), and the file an incremental build sees edited."""

    def __init__(self, name, folder, top, layout, source, edited, goals):
        self.name, self.folder, self.top, self.layout, self.source = name, folder, top, layout, source
        self.edited, self.goals = edited, goals


SHAPES = {
    "scipy": Shape("scipy", SCIPY, "python", "python", "python", "python/pandas/core/frame.py",
                   {"build": 0.25, "incremental": 0.02, "check": 0.01}),
    "small-files": Shape("small-files", WORK / "small-files", "nodejs", "nodejs", "nodejs/node_modules", None,
                         {"build": 0.35, "incremental": 0.10, "check": 0.06}),
    "big-file": Shape("big-file", WORK / "big-file", "bin", "provided", "{path: bin, to: bin}", None, {"build": 0.25}),
    "1k-files": Shape("1k-files", WORK / "1k-files", "nodejs", "nodejs", "nodejs/node_modules", None, {"build": 0.8}),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--shape", action="append", choices=list(SHAPES), help="shapes to time (default: all); repeatable")
    parser.add_argument("--binary", help="a layerpack binary to time instead of building one with `swift build -c release`")
    parser.add_argument("--scratch-path", help="passed to `swift build` (e.g. .build-speed)")
    parser.add_argument("--jobs", type=int, help="passed to layerpack as --jobs (default: its own, the core count)")
    args = parser.parse_args()

    for tool, package in [("/usr/bin/time", "time"), ("zip", "zip")]:
        if not shutil.which(tool):
            sys.exit(f"`{tool}` is missing; install it with `apt-get install {package}`.")
    binary = str(Path(args.binary).resolve()) if args.binary else build_release(args.scratch_path)
    prepare_scipy()
    for name in args.shape or list(SHAPES):
        shape = SHAPES[name]
        if name == "small-files":
            prepare_slices(shape, 100_000, seed=17)
        elif name == "1k-files":
            prepare_slices(shape, 1_000, seed=18)
        elif name == "big-file":
            prepare_big_file(shape)
        bench(shape, binary, args)


def bench(shape, binary, args):
    out = WORK / "out" / shape.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = shape.folder / "layerpack.yml"
    config.write_text(f"layer_name: bench-{shape.name}\nlayout: {shape.layout}\nsources: [{shape.source}]\n"
                      f"filename: {out / 'layerpack.zip'}\n")
    for leftover in [".layerpack", "layerpack.lock"]:
        path = shape.folder / leftover
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    edited = shape.folder / (shape.edited or first_file(shape.folder / shape.top))
    original = edited.read_bytes()
    # Dated now: a run interrupted between an edit dated ahead and its undo, or a clock set back since, had
    # left it newer than the edit `zip -u` is then shown, which it ignored ("nothing to do").
    edited.write_bytes(original)
    counter = iter(range(1, 1_000_000))

    def edit_one_file():
        edited.write_bytes(original + f"\n// bench edit {next(counter)}\n".encode())

    def edit_one_file_for_zip():
        # `zip -u` compares modification times at 2-second resolution: the edit is dated 4 s ahead. (Not
        # for layerpack's edit: a file dated in the future is never trusted by its stat cache.)
        edit_one_file()
        stamp = time.time() + 4
        os.utime(edited, (stamp, stamp))

    jobs = ["--jobs", str(args.jobs)] if args.jobs else []

    def layerpack(command, *arguments):
        return [binary, command, "--config", str(config), *jobs, *arguments]

    measures = [
        ("zip -r -X -q -6", "zip", lambda: (out / "zip.zip").unlink(missing_ok=True),
         ["zip", "-r", "-X", "-q", "-6", str(out / "zip.zip"), shape.top], out / "zip.zip"),
        ("layerpack build --no-cache", "build", None, layerpack("build", "--no-cache", "-o", str(out / "full.zip")), out / "full.zip"),
        ("zip -ru (one file changed)", None, edit_one_file_for_zip,
         ["zip", "-r", "-u", "-X", "-q", "-6", str(out / "zip.zip"), shape.top], out / "zip.zip"),
        ("layerpack build (one file changed)", "incremental", edit_one_file, layerpack("build"), out / "layerpack.zip"),
        ("layerpack check (nothing changed)", "check", None, layerpack("check"), None),
        ("python zipfile (level 6)", None, None, [sys.executable, "-c", PYTHON_ZIPFILE, str(shape.folder), shape.top, str(out / "zipfile.zip")],
         out / "zipfile.zip"),
    ]

    try:
        # Warm the page cache and layerpack's caches, so every round starts alike.
        run(layerpack("build"), shape.folder)
        times = {name: [] for name, *_ in measures}
        memory = {name: [] for name, *_ in measures}
        for round_number in range(1, args.rounds + 1):
            for name, _, before, command, _ in measures:
                if before:
                    before()
                seconds, kilobytes = run(command, shape.folder)
                times[name].append(seconds)
                memory[name].append(kilobytes)
            print(f"{shape.name} round {round_number}/{args.rounds}: "
                  + ", ".join(f"{n.split(' (')[0]} {times[n][-1]:.3f}s" for n, *_ in measures), file=sys.stderr)
    finally:
        edited.write_bytes(original)

    report(shape, measures, times, memory, args.rounds, binary, out)


def build_release(scratch_path):
    # As `make build` builds what `make install` and the tarball ship: the Swift runtime linked in, which
    # also spares every run the dynamic loader's work on the runtime's libraries.
    command = ["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", "layerpack"]
    if scratch_path:
        command += ["--scratch-path", scratch_path]
    subprocess.run(command, cwd=ROOT, check=True)
    bin_path = subprocess.run(command + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return str(Path(bin_path) / "layerpack")


def prepare_scipy():
    marker = SCIPY / ".installed"
    if marker.exists():
        return
    shutil.rmtree(SCIPY, ignore_errors=True)
    print(f"Installing {', '.join(PACKAGES)} into {SCIPY / 'python'} (once; kept between runs)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(SCIPY / "python")] + PACKAGES,
                   check=True)
    marker.write_text(" ".join(PACKAGES) + "\n")


def scipy_files(suffixes):
    """The scipy shape's files with these suffixes, in a fixed order, with their bytes."""
    paths = sorted(p for p in (SCIPY / "python").rglob("*") if p.is_file() and not p.is_symlink() and p.suffix in suffixes)
    return [(p, p.read_bytes()) for p in paths]


def prepare_slices(shape, count, seed):
    """`count` files of 1-20 KB in a node_modules-like tree: 100 packages, folders of 50 files. Sizes
    lean small (1 KB + 19 KB × u^15, u uniform), about 2.2 KB on average, as in a real node_modules."""
    marker = shape.folder / ".installed"
    stamp = f"{count} files, seed {seed}\n"
    if marker.exists() and marker.read_text() == stamp:
        return
    print(f"Writing {count} files into {shape.folder} (once; kept between runs)", file=sys.stderr)
    shutil.rmtree(shape.folder, ignore_errors=True)
    texts = b"".join(data for _, data in scipy_files(TEXT_SUFFIXES))
    rng = random.Random(seed)
    for index in range(count):
        size = 1024 + int(19 * 1024 * rng.random() ** 15)
        start = rng.randrange(0, len(texts) - size)
        package, rest = divmod(index, count // 100 or 1)
        folder = shape.folder / shape.top / "node_modules" / f"package-{package:03d}" / "lib" / f"part-{rest // 50:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"module-{index:06d}.js").write_bytes(texts[start:start + size])
    marker.write_text(stamp)


def prepare_big_file(shape):
    size = 100 << 20
    marker = shape.folder / ".installed"
    if marker.exists():
        return
    print(f"Writing a {size >> 20} MiB file into {shape.folder} (once; kept between runs)", file=sys.stderr)
    shutil.rmtree(shape.folder, ignore_errors=True)
    (shape.folder / shape.top).mkdir(parents=True)
    data = bytearray()
    for _, content in scipy_files({".so"}):
        data += content
        if len(data) >= size:
            break
    while len(data) < size:
        data += data[: size - len(data)]
    target = shape.folder / shape.top / "engine"
    target.write_bytes(bytes(data[:size]))
    target.chmod(0o755)
    marker.write_text(f"{size} bytes\n")


def first_file(folder):
    return min(p for p in folder.rglob("*") if p.is_file()).relative_to(folder.parent)


def run(command, folder):
    """Runs `command` in `folder` under `/usr/bin/time -v`: wall seconds and peak RSS in KiB."""
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v"] + command, cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed with status {result.returncode}:\n{result.stderr}")
    peak = next(int(line.split(":")[1]) for line in result.stderr.splitlines() if "Maximum resident set size" in line)
    return seconds, peak


def report(shape, measures, times, memory, rounds, binary, out):
    baseline = statistics.median(times["zip -r -X -q -6"])
    zip_size = (out / "zip.zip").stat().st_size
    top = shape.folder / shape.top
    files = sum(len(names) for _, _, names in os.walk(top))
    size = sum(p.stat().st_size for p in top.rglob("*") if p.is_file())
    print(f"\nShape {shape.name}: {files} files, {size / 1e6:.1f} MB on {platform.machine()}, "
          f"{os.cpu_count()} cores, {cpu_model()}; medians of {rounds} alternating rounds; {binary}\n")
    print("| measure | median | ratio to zip | goal | output | size vs zip | peak memory |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, goal_key, _, _, output in measures:
        median = statistics.median(times[name])
        goal = f"≤ {shape.goals[goal_key]}" if goal_key in shape.goals else ""
        if output and "-ru" not in name:
            output_size = output.stat().st_size
            sizes = f"{output_size / 1e6:.2f} MB | {output_size / zip_size:.3f}×"
        else:
            sizes = "– | –"
        print(f"| {name} | {median:.3f} s | {median / baseline:.3f} | {goal} | {sizes} | {max(memory[name]) / 1024:.0f} MiB |")
    with zipfile.ZipFile(out / "full.zip") as archive:
        bad = archive.testzip()
        names = set(archive.namelist())
    with zipfile.ZipFile(out / "zip.zip") as archive:
        # zip also stores each folder as an entry of its own.
        same = names == {name for name in archive.namelist() if not name.endswith("/")}
    print(f"\nlayerpack's zip: {'every CRC checks out' if bad is None else 'BAD ENTRY ' + bad} (Python zipfile.testzip); "
          f"{'the same files as' if same else 'OTHER FILES THAN'} zip's\n", flush=True)


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
