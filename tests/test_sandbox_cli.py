"""`profilesync sandbox` as a process (seed and keys files, a local folder store) and `SandboxServer`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
import yaml
from conftest import start_sandbox

from pipeline.sandbox.server import SandboxServer
from pipeline.sandbox.settings import DEMO_API_KEY


def test_local_folder_store_with_seed_and_keys_files(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        yaml.safe_dump(
            {
                "users": [
                    {"external_id": "u1", "email": "ana@example.com", "points": 900},
                    {
                        "external_id": "u2",
                        "custom_attributes": {"points": 10},
                        "created_at": "2024-01-01 00:00:00.000 UTC",
                    },
                ],
                "segments": [
                    {
                        "id": "seg-loyal",
                        "name": "Loyal",
                        "filter": {"field": "custom_attributes.points", "op": "gte", "value": 500},
                    }
                ],
                "campaigns": [{"name": "Welcome"}],
            }
        )
    )
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps(
            {
                "keys": [
                    {"name": "exporter", "key": "exp-key", "permissions": ["users.export.segment", "segments.list"]},
                    {"name": "reader", "key": "read-key", "permissions": ["campaigns.list"]},
                ]
            }
        )
    )
    exports = tmp_path / "exports"
    process, url = start_sandbox(str(exports), "--seed", str(seed), "--keys", str(keys))
    try:
        demo = requests.get(f"{url}/segments/list", headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
        assert demo.status_code == 401  # with a keys file and no --api-key only those keys exist
        reader = {"Authorization": "Bearer read-key"}
        assert requests.get(f"{url}/campaigns/list", headers=reader).json()["campaigns"][0]["name"] == "Welcome"
        assert requests.get(f"{url}/segments/list", headers=reader).status_code == 403
        answer = requests.post(
            f"{url}/users/export/segment",
            json={"segment_id": "seg-loyal", "fields_to_export": ["external_id", "custom_attributes"]},
            headers={"Authorization": "Bearer exp-key"},
        )
        assert answer.status_code == 201
        prefix = answer.json()["object_prefix"]
        job = requests.get(f"{url}/_sandbox/exports/{prefix}").json()
        while job["status"] == "running":
            job = requests.get(f"{url}/_sandbox/exports/{prefix}").json()
        (key,) = job["files"]
        path = exports / key
        assert path.parent.parent.parent.name == "seg-loyal" and path.parent.name == prefix
        with zipfile.ZipFile(path) as archive:
            lines = archive.read(archive.namelist()[0]).decode().splitlines()
        assert [json.loads(line) for line in lines] == [{"external_id": "u1", "custom_attributes": {"points": 900}}]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0  # exits cleanly on SIGTERM


def test_demo_key_and_demo_users_by_default(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"demo_users": 30}))
    process, url = start_sandbox(str(tmp_path / "exports"), "--seed", str(seed))
    try:
        answer = requests.get(f"{url}/segments/list", headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
        assert answer.status_code == 200
        assert {s["name"] for s in answer.json()["segments"]} >= {"All users", "Loyal users"}
        assert requests.get(f"{url}/_sandbox/users", params={"limit": 0}).json()["count"] == 30
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_a_bad_seed_file_stops_start_up_with_a_message(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"segments": [{"name": "x", "filter": {"random_bucket": [9, 1]}}]}))
    command = [
        str(Path(sys.executable).parent / "profilesync"),
        "sandbox",
        "--port",
        "0",
        "--storage",
        str(tmp_path),
        "--seed",
        str(seed),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "segments[0]" in result.stderr and "random_bucket" in result.stderr
    assert "listening" not in result.stdout


def test_sandbox_server_in_a_thread(tmp_path: Path) -> None:
    with SandboxServer(str(tmp_path), api_key="thread-key") as braze:
        braze.admin.seed(demo_users=3)
        answer = requests.get(f"{braze.url}/segments/list", headers={"Authorization": "Bearer thread-key"})
        assert answer.status_code == 200 and len(answer.json()["segments"]) == 4
        url = braze.url
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/segments/list", timeout=2)
