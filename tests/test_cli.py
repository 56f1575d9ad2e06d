from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kerasvision import __version__
from kerasvision.cli.errors import run_cli
from kerasvision.cli.main import cli


def kv(*args: str) -> int:
    return run_cli(cli, list(args))


def test_version(capsys):
    assert kv("--version") == 0
    assert capsys.readouterr().out.strip() == f"kv {__version__}"


def test_models_lists_the_registry_with_parameter_counts(capsys):
    assert kv("models", "resnet2*", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["resnet20"]
    assert rows[0]["params"] == 274_042


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["train", "--model", "resnet2"], "unknown model 'resnet2'", 1),
        (["train", "--dataset", "/no/such/folder"], "dataset folder not found", 1),
        (["train", "--epochs", "0"], "epochs must be between 1", 1),
        (["train", "--epochs", "ten"], "'ten' is not a valid integer", 2),
        (["train", "--set", "augment.mixpu=1"], "did you mean 'mixup'", 1),
        (["train", "--set", "nokey"], "--set takes KEY=VALUE", 1),
        (["train", "--bogus"], "No such option '--bogus'", 2),
        (["models", "nothing*"], "no model matches", 1),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path, capsys, args, message, code):
    assert kv(*args, *(["--out", str(tmp_path / "run")] if args[0] == "train" else [])) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kv: error: ")
    assert message in err
    assert not (tmp_path / "run").exists()  # nothing written half-way


def test_train_cli_writes_a_run_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        kv("train", "-m", "tiny_cnn", "-e", "1", "-b", "256", "--no-augment", "-o", str(out)) == 0
    )
    assert "val accuracy" in capsys.readouterr().out
    config = (out / "config.yaml").read_text()
    assert "translate: 0.0" in config and "flip: none" in config


def test_unexpected_errors_are_one_line_too(monkeypatch, capsys):
    import kerasvision.training as training

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(training, "train", boom)
    assert kv("train", "-e", "1") == 1
    err = capsys.readouterr().err
    assert err == "kv: error: RuntimeError: disk on fire (KV_DEBUG=1 shows the traceback)\n"


def test_completion_script_is_printed(capsys):
    assert kv("completion", "bash") == 0
    assert "_KV_COMPLETE" in capsys.readouterr().out


def test_installed_command_keeps_stderr_to_one_line(tmp_path):
    """The real console script: TensorFlow's native logs must not reach the terminal."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kerasvision.cli.main",
            "train",
            "--model",
            "nosuch",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    expected = "kv: error: unknown model 'nosuch'; choose from: airbench, convnext_tiny, "
    assert lines[0].startswith(expected)
    assert ", resnet20, resnet50, " in lines[0] and lines[0].endswith(", xception")


def test_cli_and_export_folders_install_inside_the_kerasvision_namespace(tmp_path):
    # From another folder, so that the repository root is not on sys.path.
    code = (
        "import importlib.util as u, kerasvision.cli.main as c, kerasvision.export.formats as f; "
        "print(u.find_spec('cli'), u.find_spec('export'), c.__file__, f.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    no_cli, no_export, cli_file, export_file = proc.stdout.split()
    assert (no_cli, no_export) == ("None", "None")  # no bare top-level package leaks
    assert cli_file.replace("\\", "/").endswith("cli/main.py")
    assert export_file.replace("\\", "/").endswith("export/formats.py")
