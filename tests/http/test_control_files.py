"""The files of a project-mode function's folder (the console's code editor): listed, read and
written under that folder only; never outside it, whatever the path or a symlink says."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import build_settings
from tests.conftest import assert_appwrite_error

KEY = "files-key"
HEADERS = {"X-Appwrite-Project": "demo", "X-Appwrite-Key": KEY}
MAIN = "def main(req, res):\n    res.send('v1')\n"
BASE = "/v1/emulator/functions/edited/files"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    folder = root / "functions" / "edited"
    (folder / "lib").mkdir(parents=True)
    (folder / "main.py").write_text(MAIN)
    (folder / "lib" / "util.py").write_text("X = 1\n")
    (folder / "node_modules" / "dep").mkdir(parents=True)
    (folder / "node_modules" / "dep" / "index.js").write_text("")
    (folder / "data.bin").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "secret.txt").write_text("outside")
    (folder / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (folder / "escape-dir").symlink_to(tmp_path)
    (folder / "alias.py").symlink_to(folder / "main.py")
    functions = [
        {
            "$id": "edited",
            "name": "Edited",
            "runtime": "python-3.9",
            "path": "functions/edited",
            "entrypoint": "main.py",
        }
    ]
    (root / "appwrite.json").write_text(json.dumps({"projectId": "demo", "functions": functions}))
    return root


@pytest.fixture
def client(project: Path, tmp_path: Path) -> Iterator[TestClient]:
    settings = build_settings(
        project, data_dir=tmp_path / "data", project_id="demo", api_key=KEY, env={}, watch=False
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.headers.update(HEADERS)
        yield test_client


def test_the_folders_of_project_functions_are_listed(client: TestClient, project: Path) -> None:
    body = client.get("/v1/emulator/folders").json()
    assert body == {
        "total": 1,
        "folders": [{"functionId": "edited", "path": str(project / "functions" / "edited")}],
    }


def test_listing_leaves_out_dependencies_and_links_that_leave_the_folder(
    client: TestClient,
) -> None:
    body = client.get(BASE).json()
    paths = [f["path"] for f in body["files"]]
    assert paths == ["alias.py", "data.bin", "main.py", "lib/util.py"]
    assert body["total"] == 4
    assert {"path": "main.py", "size": len(MAIN)} in body["files"]


def test_a_file_is_read_and_written_on_disk(client: TestClient, project: Path) -> None:
    assert client.get(f"{BASE}/main.py").json() == {"path": "main.py", "content": MAIN}
    new = "def main(req, res):\n    res.send('v2')\n"
    response = client.put(f"{BASE}/main.py", json={"content": new})
    assert response.status_code == 200
    assert response.json() == {"path": "main.py", "size": len(new)}
    target = project / "functions" / "edited" / "main.py"
    assert target.read_text() == new
    assert client.get(f"{BASE}/lib/util.py").json()["content"] == "X = 1\n"
    # No temporary file is left behind.
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".")) == []


def test_a_new_file_is_created_with_its_folders(client: TestClient, project: Path) -> None:
    response = client.put(f"{BASE}/src/helpers/new.py", json={"content": "Y = 2\n"})
    assert response.status_code == 200
    assert (
        project / "functions" / "edited" / "src" / "helpers" / "new.py"
    ).read_text() == "Y = 2\n"


def test_a_link_inside_the_folder_is_written_through(client: TestClient, project: Path) -> None:
    client.put(f"{BASE}/alias.py", json={"content": "# via alias\n"})
    folder = project / "functions" / "edited"
    assert (folder / "main.py").read_text() == "# via alias\n"
    assert (folder / "alias.py").is_symlink()


@pytest.mark.parametrize(
    "path",
    [
        "escape.txt",  # a symlink to a file outside
        "escape-dir/secret.txt",  # through a symlinked folder
        "..%2F..%2Fsecret.txt",
        "lib/..%2F..%2F..%2Fsecret.txt",
    ],
)
def test_paths_outside_the_folder_are_refused(
    client: TestClient, path: str, tmp_path: Path
) -> None:
    read = client.get(f"{BASE}/{path}")
    assert_appwrite_error(read, 400, "general_argument_invalid")
    assert "outside" not in read.text.replace("outside the function", "")
    write = client.put(f"{BASE}/{path}", json={"content": "pwned"})
    assert_appwrite_error(write, 400, "general_argument_invalid")
    assert (tmp_path / "secret.txt").read_text() == "outside"


def test_an_absolute_path_is_refused(client: TestClient, tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    response = client.put(f"{BASE}/%2F{str(target).lstrip('/')}", json={"content": "pwned"})
    assert_appwrite_error(response, 400, "general_argument_invalid")
    assert "no leading /" in response.json()["message"]
    assert target.read_text() == "outside"


def test_missing_binary_and_folder_paths(client: TestClient) -> None:
    assert_appwrite_error(client.get(f"{BASE}/nope.py"), 404, "storage_file_not_found")
    binary = client.get(f"{BASE}/data.bin")
    assert_appwrite_error(binary, 400, "general_argument_invalid")
    assert "not a UTF-8 text file" in binary.json()["message"]
    folder = client.put(f"{BASE}/lib", json={"content": "x"})
    assert_appwrite_error(folder, 400, "general_argument_invalid")


def test_functions_without_a_folder_and_unknown_functions(client: TestClient) -> None:
    created = client.post(
        "/v1/functions", json={"functionId": "api-made", "name": "A", "runtime": "python-3.9"}
    )
    assert created.status_code == 201
    response = client.get("/v1/emulator/functions/api-made/files")
    assert_appwrite_error(response, 404, "storage_file_not_found")
    assert "no project folder" in response.json()["message"]
    missing = client.get("/v1/emulator/functions/nope/files/main.py")
    assert_appwrite_error(missing, 404, "function_not_found")


def test_guests_are_refused(client: TestClient, project: Path) -> None:
    guest = {"X-Appwrite-Key": ""}
    assert_appwrite_error(client.get(BASE, headers=guest), 401, "general_unauthorized_scope")
    response = client.put(f"{BASE}/main.py", json={"content": "x"}, headers=guest)
    assert_appwrite_error(response, 401, "general_unauthorized_scope")
    assert (project / "functions" / "edited" / "main.py").read_text() == MAIN


def test_files_inside_the_data_dir_are_refused(tmp_path: Path) -> None:
    """A function whose folder is the project root must not reach the emulator's own files."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "main.py").write_text(MAIN)
    functions = [{"$id": "root", "runtime": "python-3.9", "path": ".", "entrypoint": "main.py"}]
    (root / "appwrite.json").write_text(json.dumps({"projectId": "demo", "functions": functions}))
    settings = build_settings(root, project_id="demo", api_key=KEY, env={}, watch=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        client.headers.update(HEADERS)
        paths = [f["path"] for f in client.get("/v1/emulator/functions/root/files").json()["files"]]
        assert "main.py" in paths
        assert not any(p.startswith(".appwrite-emulator") for p in paths), paths
        response = client.get("/v1/emulator/functions/root/files/.appwrite-emulator/api-key")
        assert_appwrite_error(response, 400, "general_argument_invalid")
    assert os.path.isdir(root / ".appwrite-emulator")
