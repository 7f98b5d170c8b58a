"""`POST /users/export/segment` and `/export/segment/cancel` (reference section 4).

The endpoint answers at once with `object_prefix` (`<uuid4>-<unix seconds>`); a background
job then snapshots the segment's members and writes them, `users_per_file` users per file
(default 5,000), one file at a time, to

    segment-export/<segment_id>/<YYYY-MM-dd>/<object_prefix>/<32 hex>.json.gz   (gzip: JSON lines)
    segment-export/<segment_id>/<YYYY-MM-dd>/<object_prefix>/<32 hex>.zip       (zip: one <32 hex>.json)

in the configured store (a folder or any S3 endpoint). The date is the UTC date the job starts
writing (its completion date unless it crosses midnight; `export_date` in the config overrides
it). An empty segment gives one empty file. When every file is written the job POSTs
`{"success": true}` to `callback_endpoint`, if one was given. A second export of a segment
whose export still runs gets a 429, as do exports past 100 running at once.

Faults: `export_delay_s` before the first file, `export_file_delay_s` between files,
`export_fail` writes `export_fail_after_files` files (default none) and stops without a callback,
`callback: missing` never calls back, `callback: slow` calls back `callback_delay_s` late.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import sys
import threading
import time
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

import requests

from pipeline.braze import rules
from pipeline.sandbox.calls import Answer, Call, error, success
from pipeline.sandbox.export_jobs import ExportJob, finish
from pipeline.sandbox.readers import fields_error
from pipeline.sandbox.segments import Segment, matches
from pipeline.sandbox.settings import MAX_CONCURRENT_EXPORTS
from pipeline.sandbox.state import Sandbox
from pipeline.storage import StorageError, open_store


def handle_export(sb: Sandbox, call: Call) -> Answer:
    body = call.body if isinstance(call.body, dict) else {}
    segment_id = body.get("segment_id")
    if not isinstance(segment_id, str) or not segment_id:
        return error(400, "'segment_id' is required (from /segments/list or the dashboard)")
    problem = fields_error(body.get("fields_to_export"), rules.SEGMENT_EXPORT_FIELDS)
    if problem:
        return problem
    custom = body.get("custom_attributes_to_export")
    if custom is not None and not (
        isinstance(custom, list)
        and all(isinstance(c, str) for c in custom)
        and len(custom) <= rules.MAX_CUSTOM_ATTRIBUTES_TO_EXPORT
    ):
        return error(400, "'custom_attributes_to_export' must be a list of at most 500 attribute names")
    callback = body.get("callback_endpoint")
    if callback is not None and not (isinstance(callback, str) and callback.startswith(("http://", "https://"))):
        return error(400, "'callback_endpoint' must be an http(s) URL")
    output_format = body.get("output_format", "zip")
    if output_format not in rules.OUTPUT_FORMATS:
        return error(400, f"'output_format' must be 'zip' or 'gzip', got {output_format!r}")
    with sb.lock:
        if segment_id not in sb.segments:
            return error(400, f"Could not find segment with id '{segment_id}'")
        if sb.exports.running(segment_id):
            return error(429, f"An export of segment '{segment_id}' is already running; wait until it finishes")
        if len(sb.exports.running()) >= MAX_CONCURRENT_EXPORTS:
            return error(429, f"{MAX_CONCURRENT_EXPORTS} segment exports are already running; wait for one to end")
        job = ExportJob(
            object_prefix=f"{uuid.uuid4()}-{int(time.time())}",
            segment_id=segment_id,
            fields=list(body["fields_to_export"]),
            custom_names=custom,
            output_format=output_format,
            callback_endpoint=callback,
            requested_at=datetime.now(UTC).isoformat(),
            storage=sb.config.storage,
        )
        sb.exports.jobs[job.object_prefix] = job
    threading.Thread(target=_run, args=(sb, job), name=f"export-{segment_id}", daemon=True).start()
    call.outcome = {"object_prefix": job.object_prefix}
    return success(201, object_prefix=job.object_prefix)


def handle_cancel(sb: Sandbox, call: Call) -> Answer:
    segment_id = call.body.get("segment_id") if isinstance(call.body, dict) else None
    if not isinstance(segment_id, str) or not segment_id:
        return error(400, "'segment_id' is required")
    with sb.lock:
        call.outcome = {"cancelled": sb.exports.cancel_all(segment_id)}
    return success()


def _run(sb: Sandbox, job: ExportJob) -> None:
    faults = dataclasses.replace(sb.faults.spec)
    with sb.lock:
        segment = sb.segments.get(job.segment_id)
        per_file, date = sb.config.users_per_file, sb.config.export_date
    job.users = 0
    if job.stop.wait(faults.export_delay_s):
        return
    date = date or datetime.now(UTC).strftime("%Y-%m-%d")
    folder = f"segment-export/{job.segment_id}/{date}/{job.object_prefix}"
    position, number = 0, 0
    try:
        store = open_store(job.storage)
        while True:
            if faults.export_fail and number >= faults.export_fail_after_files:
                break
            if (number and job.stop.wait(faults.export_file_delay_s)) or job.stop.is_set():
                return
            chunk, position = _next_file(sb, segment, job, position, per_file)
            if not chunk and number:
                break
            name = uuid.uuid4().hex
            key = f"{folder}/{name}{'.json.gz' if job.output_format == 'gzip' else '.zip'}"
            store.write_bytes(key, encode(chunk, job.output_format, name))
            job.files.append(key)
            job.users += len(chunk)
            number += 1
            if len(chunk) < per_file:
                break
    except StorageError as exc:
        finish(job, "failed", error=str(exc))
        sys.stderr.write(f"sandbox: export {job.object_prefix} of segment {job.segment_id} failed: {exc}\n")
        return
    if faults.export_fail:
        finish(job, "failed", error="export failed (export_fail fault); no callback is sent")
        return
    finish(job, "completed")
    if job.callback_endpoint:
        _callback(job, faults.callback, faults.callback_delay_s)


def _next_file(
    sb: Sandbox, segment: Segment | None, job: ExportJob, position: int, per_file: int
) -> tuple[list[dict[str, Any]], int]:
    """The next file's members from user `position` on, and where the file after it starts.

    Members are found and built per file, under the lock only for that file, so an export of
    any size holds one file of users at a time; a user changed before its file is written is
    exported as changed, as Braze's own exports are not point-in-time either."""
    chunk: list[dict[str, Any]] = []
    if segment is None:
        return chunk, position
    with sb.lock:
        for user in sb.users.iter_from(position):
            position += 1
            if matches(segment.filter, user):
                chunk.append(user.export(job.fields, job.custom_names))
                if len(chunk) == per_file:
                    break
    return chunk, position


def encode(users: list[dict[str, Any]], output_format: str, name: str) -> bytes:
    """One export file: JSON lines, gzipped, or zipped as a single `<name>.json` member."""
    lines = "".join(json.dumps(u, ensure_ascii=False, separators=(",", ":")) + "\n" for u in users).encode()
    if output_format == "gzip":
        return gzip.compress(lines)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.json", lines)
    return buffer.getvalue()


def _callback(job: ExportJob, mode: str, delay_s: float) -> None:
    if mode == "missing":
        job.callback = "not sent (callback fault: missing)"
        return
    if mode == "slow" and job.stop.wait(delay_s):
        job.callback = "not sent (cancelled while delayed)"
        return
    try:
        response = requests.post(job.callback_endpoint, json={"success": True}, timeout=10)
        job.callback = f"sent: HTTP {response.status_code}"
    except requests.RequestException as exc:
        job.callback = f"failed: {type(exc).__name__}"
