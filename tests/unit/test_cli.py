"""The command line contract: flags, help, errors, and how settings are resolved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.config import API_KEY_ENV, build_settings

FLAGS = [
    "--host",
    "--port",
    "--data-dir",
    "--project-id",
    "--api-key",
    "--no-watch",
    "--runtimes",
    "--max-deployment-size",
    "--worker-idle-timeout",
    "--worker-memory",
    "--cors-origin",
    "--max-body-size",
]


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "PROJECT_DIR" in text
    for flag in FLAGS:
        assert flag in text


@pytest.mark.parametrize(
    "argv",
    [["serve", "--bogus"], ["serve", "--port", "eighty"], ["launch"], []],
)
def test_bad_flags_exit_2_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_project_folder_that_does_not_exist_is_refused_and_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "sample_functoins"
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(typo), "--port", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(typo) in err and "does not exist" in err
    assert not typo.exists()


def test_a_file_given_as_the_project_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "appwrite.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(tmp_path / "appwrite.json"), "--port", "0"])
    assert exit_info.value.code == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / ".appwrite-emulator").exists()


def test_python_dash_m_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "--api-key" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", "--nope"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unrecognized arguments: --nope" in bad.stderr


def test_defaults(tmp_path: Path) -> None:
    settings = build_settings(tmp_path, env={})
    assert settings.data_dir == tmp_path.resolve() / ".appwrite-emulator"
    assert settings.project_id == "emulator"
    assert (settings.host, settings.port) == ("127.0.0.1", 8800)
    assert settings.endpoint == "http://127.0.0.1:8800/v1"


def test_project_id_from_appwrite_json(tmp_path: Path) -> None:
    (tmp_path / "appwrite.json").write_text('{"projectId": "from-file"}')
    assert build_settings(tmp_path, env={}).project_id == "from-file"
    assert build_settings(tmp_path, project_id="flag", env={}).project_id == "flag"
    (tmp_path / "appwrite.json").write_text("{broken")
    assert build_settings(tmp_path, env={}).project_id == "emulator"


def test_api_key_flag_then_env_then_kept_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert build_settings(tmp_path, data_dir=data, api_key="flag", env={}).api_key == "flag"
    assert build_settings(tmp_path, data_dir=data, env={API_KEY_ENV: "env"}).api_key == "env"
    generated = build_settings(tmp_path, data_dir=data, env={})
    assert generated.api_key_generated and len(generated.api_key) > 32
    again = build_settings(tmp_path, data_dir=data, env={})
    assert again.api_key == generated.api_key and not again.api_key_generated
    assert (data / "api-key").stat().st_mode & 0o077 == 0
