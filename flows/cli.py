"""The ``closureflow`` command line: list, run, compare, serve.

Exit codes: 0 success; 2 bad usage or invalid config (nothing started); 1 the run failed (the
MLflow run is marked FAILED and what was computed is kept). With ``--json`` exactly one JSON object
goes to stdout; everything else (logs, progress) goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Embedded-server defaults; users' own environment settings win.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


class UsageError(Exception):
    """argparse errors, raised instead of exiting so main() controls the exit code."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="closureflow", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    commands.add_parser("list", help="flows with a one-line description")

    run = commands.add_parser("run", help="run a flow")
    run.add_argument("flow")
    run.add_argument("-c", "--config", help="YAML file of config keys")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a dotted config key; the value is parsed as YAML",
    )
    run.add_argument("--quick", action="store_true", help="small, fast variant of the same run")
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    run.add_argument("--output", help="folder for artifacts (default outputs/FLOW/STAMP-RUNID)")

    compare = commands.add_parser("compare", help="table of recent runs of an experiment")
    compare.add_argument("--experiment", help="experiment (= flow) name; default the newest")
    compare.add_argument("--metric", action="append", default=[], help="metric column (repeat)")
    compare.add_argument("--last", type=int, default=10, help="number of newest runs")
    compare.add_argument("--plot", help="also draw the metrics to this PNG file")

    serve = commands.add_parser("serve", help="serve the scheduled deployments (Prefect server)")
    serve.add_argument("-c", "--config", help="deployments YAML (default: flows/deployments.yaml)")
    return parser


def cmd_list() -> int:
    from flows.registry import FLOWS

    width = max(len(name) for name in FLOWS)
    for spec in FLOWS.values():
        print(f"{spec.name.ljust(width)}  {spec.description}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from flows.config import build_config, load_yaml_config
    from flows.registry import get_flow
    from flows.runtime import RunFailed

    spec = get_flow(args.flow)
    base = load_yaml_config(args.config) if args.config else {}
    config = build_config(spec.config_schema, base, args.set, args.quick)

    record: dict[str, Any]
    code = EXIT_OK
    # Libraries that print to stdout must not break the one-JSON-object contract.
    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with redirect:
        try:
            record = spec.flow(config=config.model_dump(mode="json"), output_dir=args.output)
        except RunFailed as failure:
            code = EXIT_FAILED
            record = failure.result or {"flow": spec.name, "status": "failed"}
            record["error"] = str(failure)
            print(f"error: {spec.name} run failed: {failure}", file=sys.stderr)
            if failure.result:
                print(
                    f"MLflow run {failure.result['mlflow_run_id']} marked FAILED; outputs kept "
                    f"in {failure.result['output_dir']}",
                    file=sys.stderr,
                )
        except Exception as err:  # noqa: BLE001 - any crash of a run is a failed run (exit 1)
            code = EXIT_FAILED
            record = {
                "flow": spec.name,
                "status": "failed",
                "error": f"{type(err).__name__}: {err}",
            }
            print(f"error: {spec.name} run failed: {type(err).__name__}: {err}", file=sys.stderr)
    if args.json:
        print(json.dumps(record))
    elif code == EXIT_OK:
        print(render_record(record))
    return code


def render_record(record: dict[str, Any]) -> str:
    lines = [
        f"{record['flow']}: {record['status']} (MLflow run {record['mlflow_run_id']}, "
        f"experiment {record['experiment']!r})"
    ]
    lines += [
        f"  {name} = {value:.6g}" if isinstance(value, float) else f"  {name} = {value}"
        for name, value in record["metrics"].items()
    ]
    lines += [f"  artifact {name}: {path}" for name, path in record["artifacts"].items()]
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace) -> int:
    from flows.compare import compare

    _, text = compare(args.experiment, args.metric, args.last, args.plot)
    print(text)
    if args.plot:
        print(f"plot written to {args.plot}", file=sys.stderr)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.serve import serve_deployments

    serve_deployments(args.config)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    from flows.config import ConfigError

    try:
        args = make_parser().parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "list":
            return cmd_list()
        if args.command == "run":
            return cmd_run(args)
        if args.command == "compare":
            return cmd_compare(args)
        return cmd_serve(args)
    except ConfigError as err:
        print(f"error: invalid config: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
