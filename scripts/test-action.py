#!/usr/bin/env python3
"""Runs action.yml's shell steps as GitHub's runner would, against a real moto_server on 127.0.0.1.

Each `run:` step gets the `env:` its YAML gives (with `${{ }}` filled from the inputs, the earlier steps'
outputs and the runner's context), fresh GITHUB_OUTPUT/GITHUB_ENV/GITHUB_PATH files, and
`bash --noprofile --norc -eo pipefail`, as on GitHub. `actions/cache` is played by the runner: it restores
a folder saved under the same key by an earlier job of this run (a hit) or reports a miss, and saves the
folder after a job that missed. So the first job builds and later ones reuse its binary. The build
step builds in this checkout, so after `make dist` it finds the release binary up to date.

Usage: .venv/bin/python3 scripts/test-action.py   (ends with "N passed, 0 failed"; exit 1 on a failure)
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTION = yaml.safe_load(open(os.path.join(REPO, "action.yml")))
STEPS = ACTION["runs"]["steps"]
# What `publish` writes to GITHUB_OUTPUT for one target (PublishReport.outputs), and for several.
ONE_TARGET = ["published", "reason", "layer_name", "region", "arn", "layer_arn", "version", "created_date",
              "source_code_hash", "source_code_size", "signing_job_arn", "signing_profile_version_arn", "filename",
              "s3_bucket", "s3_key", "s3_object_version"]
SEVERAL_TARGETS = ["published", "targets"]

passed = failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok       {name}")
    else:
        failed += 1
        print(f"FAILED   {name}{': ' + detail if detail else ''}")


def read_outputs(path):
    """name=value lines, as layerpack and the action's steps write them."""
    outputs = {}
    for line in open(path).read().splitlines():
        name, _, value = line.partition("=")
        outputs[name] = value
    return outputs


class Runner:
    """One job: the runner's context, and the steps' outputs so far."""

    # actions/cache's store: key -> a saved copy of the cached folder.
    cache = {}

    def __init__(self, inputs, workspace, environment, scratch, temp=None):
        self.inputs = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
        self.inputs.update(inputs)
        self.workspace = workspace
        self.environment = environment
        self.scratch = scratch
        # A job's RUNNER_TEMP; a second use of the action in one job shares the first one's.
        self.temp = temp or tempfile.mkdtemp(prefix="runner-temp-", dir=scratch)
        self.steps = {}
        self.path = []
        self.log = []

    def value(self, expression):
        expression = expression.strip()
        if expression.startswith("inputs."):
            return self.inputs[expression[len("inputs."):]]
        match = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression)
        if match:
            return self.steps.get(match[1], {}).get(match[2], "")
        known = {"github.action_path": REPO, "github.action_repository": "", "runner.temp": self.temp}
        if expression in known:
            return known[expression]
        raise KeyError(f"the runner does not know `{expression}`")

    def fill(self, text):
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: self.value(m[1]), str(text))

    def condition(self, text):
        left, operator, right = re.fullmatch(r"(.+?)\s*(==|!=)\s*'(.*)'", text.strip()).groups()
        equal = self.value(left) == right
        return equal if operator == "==" else not equal

    def run(self):
        """Runs every step, then saves what a cache step missed; returns the exit status of the last step run."""
        status, saves = self.run_steps()
        for key, path in saves if status == 0 else []:
            Runner.cache[key] = tempfile.mkdtemp(prefix="saved-", dir=self.scratch)
            shutil.copytree(path, Runner.cache[key], dirs_exist_ok=True)
        return status

    def run_steps(self):
        saves = []
        for step in STEPS:
            if "uses" in step:
                assert step["uses"].startswith("actions/cache@"), step["uses"]
                key, path = self.fill(step["with"]["key"]), self.fill(step["with"]["path"])
                if key in Runner.cache:
                    shutil.copytree(Runner.cache[key], path, dirs_exist_ok=True)
                else:
                    saves.append((key, path))
                self.steps[step["id"]] = {"cache-hit": "true" if key in Runner.cache else "false"}
                continue
            if "if" in step and not self.condition(step["if"]):
                self.log.append(f"skipped: {step['name']}")
                continue
            files = {name: os.path.join(self.temp, f"{name}-{len(self.log)}") for name in ["GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"]}
            for path in files.values():
                open(path, "w").close()
            env = dict(self.environment, RUNNER_TEMP=self.temp, GITHUB_WORKSPACE=self.workspace, **files)
            env.update({name: self.fill(value) for name, value in step.get("env", {}).items()})
            result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                    cwd=self.workspace, env=env, capture_output=True, text=True)
            self.log.append(f"ran: {step['name']} (exit {result.returncode})\n{result.stdout}{result.stderr}")
            self.steps[step.get("id", step["name"])] = read_outputs(files["GITHUB_OUTPUT"])
            self.path += open(files["GITHUB_PATH"]).read().split()
            if result.returncode != 0:
                return result.returncode, saves
        return 0, saves


def start_moto():
    harness = os.path.join(REPO, "Tests", "TestSupport", "python", "moto_harness.py")
    # moto logs every request on stderr; keep it out of the test's report.
    process = subprocess.Popen([sys.executable, harness], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    greeting = json.loads(process.stdout.readline())
    if "error" in greeting:
        raise SystemExit(greeting["error"])
    return process, greeting


def main():
    moto, greeting = start_moto()
    work = tempfile.mkdtemp(prefix="layerpack-action-")
    try:
        home = os.path.join(work, "home")
        os.makedirs(os.path.join(home, ".aws"))
        environment = {
            "PATH": os.environ["PATH"], "HOME": home, "GITHUB_SERVER_URL": "https://github.invalid",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{greeting['port']}", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": greeting["accessKeyID"], "AWS_SECRET_ACCESS_KEY": greeting["secretAccessKey"],
            "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1,localhost",
        }
        scratch = os.path.join(work, "runner")
        os.makedirs(scratch)
        workspace = os.path.join(work, "workspace")
        shutil.copytree(os.path.join(REPO, "Fixtures", "python-layer"), workspace)
        shutil.rmtree(os.path.join(workspace, "dist"), ignore_errors=True)
        config = os.path.join(workspace, "layerpack.yml")
        text = open(config).read()
        name = f"action-{os.getpid()}"
        open(config, "w").write(re.sub(r"(?m)^layer_name: .*$", f"layer_name: {name}", text))

        for step in STEPS:
            check(f"step `{step['name']}` uses no ${{{{ }}}} in its script", "${{" not in step.get("run", ""))
        declared = set(ACTION["outputs"])
        check("every output publish writes is declared", declared == set(ONE_TARGET) | set(SEVERAL_TARGETS),
              f"declared {sorted(declared)}")
        check("every output has a description and a value from the run step",
              all(spec.get("description") and spec.get("value") == f"${{{{ steps.run.outputs.{name} }}}}" for name, spec in ACTION["outputs"].items()))

        # The first job misses the cache: the build step runs, then publish.
        miss = Runner({"command": "publish"}, workspace, environment, scratch)
        status = miss.run()
        check("cache miss: every step succeeds and publish runs", status == 0, "\n".join(miss.log))
        check("cache miss: the build step ran", any(line.startswith("ran: Build layerpack") for line in miss.log))
        key = miss.steps["source"].get("key", "")
        check("the cache key names the platform, the compiler and a hash of the sources",
              re.fullmatch(r"layerpack-Linux-[\w]+-swift-[0-9a-f]{16}-action-[0-9a-f]{16}", key) is not None, key)
        check("the binary's folder is under RUNNER_TEMP, named after the key",
              re.fullmatch(re.escape(miss.temp) + r"/layerpack-[0-9a-f]{12}", miss.steps["source"].get("bin", "")) is not None)
        outputs = miss.steps.get("run", {})
        check("publish wrote every single-target output", sorted(outputs) == sorted(ONE_TARGET), f"{sorted(outputs)}")
        check("the first publish published version 1",
              outputs.get("published") == "true" and outputs.get("version") == "1" and outputs.get("arn", "").endswith(f":layer:{name}:1"),
              f"{outputs}")
        check("the binary's folder is added to PATH", miss.path == [miss.steps["source"]["bin"]], f"{miss.path}")

        # A second use in the same job: its cache step misses (a job saves only when it ends), but the
        # binary the first use built is still there.
        saved, Runner.cache = Runner.cache, {}
        second = Runner({"command": "hash"}, workspace, environment, scratch, temp=miss.temp)
        status = second.run()
        check("a second use in one job reuses the binary built by the first",
              status == 0 and "Using " in "\n".join(second.log) and "Compiling" not in "\n".join(second.log), "\n".join(second.log))
        Runner.cache = saved

        # A later job hits the cache: the saved binary is used as it is, and nothing changed.
        hit = Runner({"command": "publish", "args": "--jobs 2"}, workspace, environment, scratch)
        status = hit.run()
        check("cache hit: the build step is skipped", "skipped: Build layerpack" in hit.log, "\n".join(hit.log))
        outputs = hit.steps.get("run", {})
        check("cache hit: publishing again changes nothing",
              status == 0 and outputs.get("published") == "false" and outputs.get("version") == "1", f"{outputs}")

        # Several regions: `published` and `targets`, one object per region.
        open(config, "a").write("regions: [us-east-1, eu-west-1]\n")
        several = Runner({"command": "publish", "config": "layerpack.yml"}, workspace, environment, scratch)
        status = several.run()
        outputs = several.steps.get("run", {})
        targets = json.loads(outputs.get("targets", "[]"))
        check("several regions: `published` and `targets` are written",
              status == 0 and sorted(outputs) == sorted(SEVERAL_TARGETS), "\n".join(several.log))
        check("several regions: `targets` has one object per region",
              sorted(target.get("region") for target in targets) == ["eu-west-1", "us-east-1"], f"{targets}")

        # Inputs reach the command as data: a config path with a space and `$(...)` stays one argument.
        odd = os.path.join(workspace, "odd $(touch pwned) name.yml")
        shutil.copy(config, odd)
        checked = Runner({"command": "check", "config": os.path.basename(odd)}, workspace, environment, scratch)
        checked.run()
        check("the config input is passed as one argument, never run as shell",
              "ran: Run layerpack (exit 1)" in "\n".join(checked.log) and not os.path.exists(os.path.join(workspace, "pwned")),
              "\n".join(checked.log))

        # An empty command only installs layerpack.
        install = Runner({"command": ""}, workspace, environment, scratch)
        check("an empty command only puts layerpack on PATH", install.run() == 0 and install.steps["run"] == {}
              and install.path == [install.steps["source"]["bin"]], "\n".join(install.log))
    finally:
        moto.stdin.close()
        moto.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
