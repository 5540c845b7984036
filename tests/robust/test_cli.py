"""python -m robust train / eval: end to end on digits, --help, bad input (exit code 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robust.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "robust", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=timeout)


def test_train_then_eval_on_digits_one_epoch(tmp_path):
    out = tmp_path / "run"
    res = _run("train", "--method", "fast", "--epochs", "1", "--eps", "0.2", "--out", str(out),
               "--threads", "1", "--eval-steps", "2", "--eps-list", "0,0.2", "--curve-steps",
               "2", "--no-progress", "--guard")
    assert res.returncode == 0, res.stderr
    for name in ("model.pt", "config.json", "metrics.json", "checkpoints/last.pt",
                 "accuracy_vs_eps.png", "accuracy_vs_eps.json"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "fast" and len(metrics["history"]) == 1
    assert 0.3 < metrics["final"]["clean"] <= 1.0  # one epoch already learns digits
    assert "guard_pgd_acc" in metrics["history"][0] and len(metrics["guard_history"]) == 1
    printed = json.loads(res.stdout)
    assert printed["clean"] == metrics["final"]["clean"]

    # eval in-process (one torch start-up less); the entry point is the same main()
    assert main(["eval", "--run", str(out), "--pgd-steps", "2", "--restarts", "1",
                 "--eps-list", "0,0.2", "--curve-steps", "2"]) == 0
    ev = json.loads((out / "eval.json").read_text())
    assert ev["clean"] == pytest.approx(metrics["final"]["clean"])  # same weights, same data
    assert 0.0 <= ev["pgd2x1"] <= ev["clean"]


def test_help_lists_every_option(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in ("train", "eval"):
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        text = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
        for action in sub.choices[name]._actions:
            for flag in action.option_strings:
                if flag.startswith("--"):
                    assert flag in text, (name, flag)
            if action.option_strings and action.dest != "help":
                assert action.help, (name, action.dest)  # every option is documented
                assert " ".join(action.help.split()[:3]) in text


@pytest.mark.parametrize("argv, words", [
    (["train", "--method", "madry", "--out", "o"], "--method"),
    (["train", "--eps", "0", "--out", "o"], "--eps"),
    (["train", "--eps", "-0.1", "--out", "o"], "--eps"),
    (["train", "--m", "0", "--out", "o"], "--m"),
    (["train", "--beta", "-1", "--out", "o"], "--beta"),
    (["train", "--epochs", "0", "--out", "o"], "--epochs"),
    (["train", "--clean-weight", "2", "--out", "o"], "--clean-weight"),
    (["train", "--dataset", "no_such_module_xyz:data", "--out", "o"], "cannot import"),
    (["train", "--dataset", "os:path", "--out", "o"], "Dataset"),
    (["eval", "--run", "does/not/exist"], "--run"),
    (["train"], "--out"),
])
def test_bad_input_exits_with_code_2(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert words in capsys.readouterr().err


def _cli_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    return exc.value.code, err


@pytest.mark.parametrize("device", ["tpu9", "cuda:x", "cpu:-1"])
def test_bad_device_exits_2_with_one_message(device, tmp_path, capsys):
    code, err = _cli_error(["train", "--device", device, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--device" in err and device in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2  # usage + one error


def test_cuda_without_a_gpu_exits_2(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, err = _cli_error(["train", "--device", "cuda", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--device" in err and "no CUDA" in err
    code, err = _cli_error(["eval", "--device", "cuda", "--run", str(tmp_path)], capsys)
    assert code == 2 and "--device" in err


@pytest.mark.parametrize("command", ["train", "eval"])
def test_out_an_existing_file_exits_2(command, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    argv = ["train", "--out", str(target)] if command == "train" else \
        ["eval", "--run", str(tmp_path), "--out", str(target)]
    if command == "eval":  # a valid-looking run folder, so only --out is wrong
        (tmp_path / "config.json").write_text("{}")
        (tmp_path / "model.pt").write_bytes(b"")
    code, err = _cli_error(argv, capsys)
    assert code == 2 and "--out" in err and "not a folder" in err
    assert target.read_text() == "not a folder"  # untouched
