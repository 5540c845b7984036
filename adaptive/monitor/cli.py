"""Command line of the sensor monitor: ``python -m adaptive monitor|plot ...``.

Exit codes: 0 when the input ended or a SIGTERM/SIGINT stopped the monitor (after a final
checkpoint); 2 for a configuration or I/O error (unreadable source, bad URL, unknown detector,
bad ``--param``, a state file that is locked by another monitor, corrupt, inconsistent, or
from another configuration or source, an output that cannot be written), with one line on
stderr and the old state file kept. Malformed records never stop the monitor: they go to the
dead letters and are counted in the summary printed to stderr at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import sys
import types
import typing
from typing import Any

_EPILOG = """\
sources: a CSV path, '-' for stdin (followed until EOF), or mqtt://host:port/topic/# (one
sensor per topic, payload a number, or JSON {"sensor", "timestamp", "value", "seq"}).
CSV formats: wide (timestamp column + one column per sensor) or long (timestamp,sensor,value).
Restarting with the same --state resumes exactly where the last checkpoint left off: the alert
and dead-letter files are cut back to the checkpoint and the input replayed from there, so no
alert is lost or repeated even after kill -9.
"""


def _detectors() -> dict[str, type]:
    from adaptive.drift import DETECTORS

    return DETECTORS


def make_detector(name: str, params: list[str]) -> Any:
    """A detector from a class name and ``k=v`` strings; ValueError on any bad piece.

    Each value is read as the type the constructor's signature gives the parameter (``none``
    sets an optional one to None; a list parameter takes comma-separated numbers).

    Examples
    --------
    >>> make_detector("PageHinkley", ["threshold=80", "mode=up"])._get_params()
    {'min_instances': 30, 'delta': 0.005, 'threshold': 80.0, 'alpha': 0.9999, 'mode': 'up', 'nan_policy': 'raise'}
    >>> make_detector("CUSUM", ["sigma=1.5", "mu0=0"])._get_params()["sigma"]
    1.5
    """  # noqa: E501
    dets = _detectors()
    if name not in dets:
        raise ValueError(f"--detector {name!r} is unknown; available: {', '.join(sorted(dets))}")
    cls = dets[name]
    kinds = _param_types(cls)
    kwargs: dict[str, Any] = {}
    for item in params:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in kinds:
            raise ValueError(
                f"--param {item!r} must be k=v with k one of {sorted(kinds)} for {name}"
            )
        kwargs[key] = _read_value(item, key, text.strip(), kinds[key])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"--param: {err}") from None


def _param_types(cls: type) -> dict[str, tuple[list[type], bool]]:
    """Parameter -> (the types it takes, in the order to try; whether None is allowed), from
    the constructor's annotations (the default's type where there is none)."""
    try:
        hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # noqa: BLE001 - an unresolvable annotation: fall back to defaults
        hints = {}
    out = {}
    for n, p in inspect.signature(cls.__init__).parameters.items():  # type: ignore[misc]
        if n in ("self", "nan_policy") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        hint = hints.get(n, type(p.default) if p.default is not p.empty else str)
        args = typing.get_args(hint) if typing.get_origin(hint) in _UNIONS else (hint,)
        types = []
        for a in args:
            origin = typing.get_origin(a) or a
            types.append(list if origin is not str and isinstance(origin, type) and hasattr(
                origin, "__iter__") else origin)
        allow_none = type(None) in types or p.default is None
        types = [t for t in types if t is not type(None)]
        order = [t for t in (bool, int, float, list, str) if t in types]
        out[n] = (order or [str], allow_none)
    return out  # type: ignore[return-value]


_UNIONS = {typing.Union, types.UnionType}


def _read_value(item: str, key: str, text: str, kind: tuple[list[type], bool]) -> Any:
    """``text`` as the first of the parameter's types that reads it; ValueError naming it."""
    types, allow_none = kind
    if text.lower() == "none" and allow_none:
        return None
    for t in types:
        try:
            if t is bool:
                if text.lower() in ("true", "false", "1", "0"):
                    return text.lower() in ("true", "1")
            elif t is list:
                return [float(v) for v in text.split(",")] if text else []
            elif t in (int, float, str):
                return t(text)
        except ValueError:
            continue
    names = " or ".join(_KIND_NAMES[t] for t in types) + (" or none" if allow_none else "")
    raise ValueError(f"--param {item!r}: {key} must be {names}, got {text!r}")


_KIND_NAMES = {bool: "true/false", int: "an integer", float: "a number",
               list: "comma-separated numbers", str: "text"}


def _shard(text: str) -> tuple[int, int]:
    i, sep, n = text.partition("/")
    try:
        shard = (int(i), int(n))
    except ValueError:
        shard = (-1, -1)
    if not sep or not 0 <= shard[0] < shard[1]:
        raise ValueError(f"--shard {text!r} must be i/N with 0 <= i < N")
    return shard


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m adaptive", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("monitor", help="run drift detectors over sensor readings",
                       description="Drift monitoring of many sensors (one detector per sensor) "
                       "with alerts, dead letters and exactly-once restarts.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--source", required=True,
                   help="CSV path, '-' for stdin, or mqtt://host:port/topic/#")
    m.add_argument("--format", choices=("auto", "wide", "long"), default="auto",
                   help="CSV layout (default: auto-detected from the header)")
    m.add_argument("--detector", default="MeanScaleCUSUM",
                   help="detector class of adaptive (default MeanScaleCUSUM: a mean and a "
                        "spread statistic per sensor, scale-free), e.g. PageHinkley")
    m.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="detector parameter (repeatable), e.g. --param threshold=80")
    m.add_argument("--arl0", type=float, default=None,
                   help="target mean run length to a false alarm, in readings (with "
                        "--calibrate-first)")
    m.add_argument("--calibrate-first", type=int, default=None, metavar="N",
                   help="calibrate each sensor on its first N readings to --arl0 before "
                        "monitoring it")
    m.add_argument("--calibrate-streams", type=int, default=None, metavar="N",
                   help="calibration budget: simulated streams per candidate threshold "
                        "(adaptive.calibrate's n_streams, default 200)")
    m.add_argument("--calibrate-steps", type=int, default=None, metavar="N",
                   help="calibration budget: steps per simulated stream (adaptive.calibrate's "
                        "max_steps, default 5 x --arl0)")
    m.add_argument("--alerts", required=True, help="alerts output, JSON Lines (appended)")
    m.add_argument("--state", required=True,
                   help="state file (checkpoints; resumed if present, bound to its source; "
                        "locked while the monitor runs)")
    m.add_argument("--reset-state", action="store_true",
                   help="start over: ignore the saved state (the first checkpoint replaces "
                        "it); the alert and dead-letter files are kept and appended to")
    m.add_argument("--dead-letters", default=None,
                   help="malformed records output, JSON Lines (default: counted only)")
    m.add_argument("--checkpoint-every", type=int, default=100_000, metavar="N",
                   help="checkpoint after every N readings (default 100000)")
    m.add_argument("--sensors", default=None,
                   help="comma-separated fixed sensor list (others are dead letters); default: "
                        "sensors join as they appear")
    m.add_argument("--shard", default=None, metavar="I/N",
                   help="keep only sensors with crc32(name) %% N == I")
    m.add_argument("--publish", default=None, metavar="URL",
                   help="also publish alerts to mqtt://host:port/topic (QoS 1)")
    m.add_argument("--client-id", default="adaptive-monitor",
                   help="MQTT client id of the persistent session (default adaptive-monitor)")
    m.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                   help="MQTT: stop after this many seconds without a message")
    m.add_argument("--batch-rows", type=int, default=None, metavar="N",
                   help="at most N rows (or messages) per micro-batch")
    p = sub.add_parser("plot", help="timeline plot of readings with alert markers")
    p.add_argument("--alerts", required=True, help="alerts JSON Lines from `monitor`")
    p.add_argument("--data", required=True, help="the CSV the monitor read (wide or long)")
    p.add_argument("-o", "--output", required=True, help="image file (PNG)")
    p.add_argument("--max-sensors", type=int, default=12,
                   help="panels to draw, alerting sensors first (default 12)")
    return parser


def _fail(msg: str) -> int:
    print(f"python -m adaptive: error: {msg}", file=sys.stderr)
    return 2


def _message(err: BaseException) -> str:
    """One line: an OSError says what could not be done to which file."""
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror + (f": {err.filename!r}" if err.filename else "")
    else:
        text = str(err)
    return " ".join(text.split())


def _check_args(args: argparse.Namespace) -> None:
    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every {args.checkpoint_every} must be >= 1")
    if args.batch_rows is not None and args.batch_rows < 1:
        raise ValueError(f"--batch-rows {args.batch_rows} must be >= 1")
    if args.arl0 is not None and not (math.isfinite(args.arl0) and args.arl0 > 1):
        raise ValueError(f"--arl0 {args.arl0} must be a finite number of readings > 1")


def _open(args: argparse.Namespace, stack: contextlib.ExitStack) -> tuple[Any, Any]:
    """The source and the monitor of the command line (closed by ``stack``)."""
    from adaptive.monitor.alerts import DeadLetters, JSONLSink, MQTTAlertSink
    from adaptive.monitor.monitor import SensorMonitor
    from adaptive.monitor.sources import open_source

    _check_args(args)
    detector = make_detector(args.detector, args.param)
    shard = _shard(args.shard) if args.shard else None
    sensors = [s.strip() for s in args.sensors.split(",")] if args.sensors else None
    rows = args.batch_rows
    source = open_source(args.source, format=args.format, max_rows=rows,
                         client_id=args.client_id, idle_exit=args.idle_exit)
    stack.callback(source.close)
    if getattr(source, "format", None) == "wide" and rows is None:
        # a wide row holds one reading per column: keep batches near the checkpoint period
        source.max_rows = max(1, args.checkpoint_every // max(len(source.columns), 1))
    elif rows is None and hasattr(source, "max_rows"):
        source.max_rows = args.checkpoint_every
    sinks = [stack.enter_context(contextlib.closing(JSONLSink(args.alerts)))]
    if args.publish:
        sinks.append(stack.enter_context(contextlib.closing(  # type: ignore[arg-type]
            MQTTAlertSink(args.publish, client_id=f"{args.client_id}-alerts"))))
    dead = stack.enter_context(contextlib.closing(DeadLetters(args.dead_letters)))
    options = {}
    if args.calibrate_streams is not None:
        options["n_streams"] = args.calibrate_streams
    if args.calibrate_steps is not None:
        options["max_steps"] = args.calibrate_steps
    mon = SensorMonitor(
        detector, sensors=sensors, calibrate_first=args.calibrate_first, arl0=args.arl0,
        calibrate_options=options, alert_sinks=sinks, dead_letters=dead,
        state_path=args.state, checkpoint_every=args.checkpoint_every, shard=shard,
    )
    stack.callback(mon.close)
    return source, mon


def run_monitor(args: argparse.Namespace) -> int:
    try:
        with contextlib.ExitStack() as stack:
            source, mon = _open(args, stack)
            mon.restore(source, reset=args.reset_state)
            summary = mon.run(source)
    except (ValueError, TypeError, NotImplementedError, OSError) as err:
        return _fail(_message(err))
    print("monitor summary: " + json.dumps(summary), file=sys.stderr)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from adaptive.monitor.plot import plot_timeline

    try:
        plot_timeline(args.alerts, args.data, args.output, max_sensors=args.max_sensors)
    except ValueError as err:
        return _fail(str(err))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m adaptive``; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "monitor":
        return run_monitor(args)
    return run_plot(args)
