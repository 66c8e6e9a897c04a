"""A tiny, real Python package index for the fix tests: wheels built at test time, served on 127.0.0.1.

`build_wheels(folder)` writes small pure-Python wheels (METADATA, WHEEL, RECORD and one module) whose
bytes depend only on what they declare: every zip member has a fixed timestamp and mode, so the same
wheel built twice, here or in another test, has the same sha256 and a lock made against the served
index installs from a copy of the folder (`pip install --no-index --find-links DIR --require-hashes`).

`serve_index(wheels)` serves them from a `ThreadingHTTPServer` on 127.0.0.1 (port 0) as a simple
repository: PEP 691 JSON (`application/vnd.pypi.simple.v1+json`, with `upload-time` per file (PEP 700)
and sha256 hashes) when the client accepts it, else the PEP 503 HTML form, and the wheel files.

Written by hand: the packaging tools that build wheels need a project tree and a build backend per
wheel and put the build time into the zip; pypiserver and its kin need installing and do not report
upload times. This is a few dozen lines of the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: no build time leaks into the bytes


@dataclass(frozen=True)
class Package:
    """One release of one project, as the wheel to build declares it."""

    name: str
    version: str
    uploaded: datetime
    requires: tuple[str, ...] = ()
    requires_python: str | None = None


@dataclass(frozen=True)
class Wheel:
    package: Package
    filename: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def project(self) -> str:
        return normalize(self.package.name)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DEFAULT_PACKAGES: tuple[Package, ...] = (
    Package("alpha", "1.0", _moment("2023-09-01T12:00:00")),
    Package("alpha", "2.0", _moment("2023-12-01T12:00:00")),
    Package("beta", "1.0", _moment("2023-09-15T12:00:00"), requires=("alpha>=1",)),
    # only published after the 2023-10-25 cut-off the tests use
    Package("latecomer", "1.0", _moment("2023-11-15T12:00:00")),
    # gamma and epsilon cannot be installed together: they want different deltas
    Package("delta", "1.0", _moment("2023-08-01T12:00:00")),
    Package("delta", "2.0", _moment("2023-08-02T12:00:00")),
    Package("gamma", "1.0", _moment("2023-09-01T12:00:00"), requires=("delta==1.0",)),
    Package("epsilon", "1.0", _moment("2023-09-01T12:00:00"), requires=("delta==2.0",)),
    # depends on a package only for old Pythons: tells whether markers are read for the target Python
    Package("zeta", "1.0", _moment("2023-09-01T12:00:00"), requires=('alpha; python_version < "3.11"',)),
)


def normalize(name: str) -> str:
    """PEP 503 project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def make_wheel(package: Package) -> Wheel:
    """A pure-Python wheel of `package`, byte-for-byte the same every time it is made."""
    module = re.sub(r"[-.]+", "_", package.name).lower()
    dist_info = f"{module}-{package.version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {package.name}",
        f"Version: {package.version}",
        "Summary: a package of the repro-audit fix tests",
    ]
    if package.requires_python:
        metadata.append(f"Requires-Python: {package.requires_python}")
    metadata += [f"Requires-Dist: {requirement}" for requirement in package.requires]
    members = {
        f"{module}/__init__.py": f'__version__ = "{package.version}"\n'.encode(),
        f"{dist_info}/METADATA": ("\n".join(metadata) + "\n").encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: repro-audit-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in members.items())
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return Wheel(package, f"{module}-{package.version}-py3-none-any.whl", buffer.getvalue())


def build_wheels(folder: Path | None = None, packages: Iterable[Package] = DEFAULT_PACKAGES) -> list[Wheel]:
    """The wheels of `packages`, also written into `folder` when one is given."""
    wheels = [make_wheel(package) for package in packages]
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            (folder / wheel.filename).write_bytes(wheel.data)
    return wheels


def wheel_of(wheels: Iterable[Wheel], name: str, version: str) -> Wheel:
    return next(w for w in wheels if w.project == normalize(name) and w.package.version == version)


class _Handler(BaseHTTPRequestHandler):
    wheels: dict[str, list[Wheel]]  # by project, set on the subclass each server gets
    files: dict[str, Wheel]

    def log_message(self, format: str, *args: object) -> None:
        pass  # pytest shows what the test says, not an access log

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        wants_json = JSON_TYPE in self.headers.get("Accept", "")
        if path in ("/simple", "/simple/"):
            self._project_list(wants_json)
        elif match := re.fullmatch(r"/simple/([^/]+)/?", path):
            project = normalize(match.group(1))
            if project not in self.wheels:
                self._send(404, "text/plain", b"no such project\n")
            else:
                self._project_page(project, wants_json)
        elif match := re.fullmatch(r"/files/([^/]+)", path):
            wheel = self.files.get(match.group(1))
            if wheel is None:
                self._send(404, "text/plain", b"no such file\n")
            else:
                self._send(200, "application/octet-stream", wheel.data)
        else:
            self._send(404, "text/plain", b"not found\n")

    def _project_list(self, wants_json: bool) -> None:
        names = sorted(self.wheels)
        if wants_json:
            body = {"meta": {"api-version": "1.1"}, "projects": [{"name": name} for name in names]}
            self._send(200, JSON_TYPE, json.dumps(body).encode())
            return
        links = "".join(f'<a href="/simple/{name}/">{name}</a>\n' for name in names)
        self._send(200, "text/html", f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode())

    def _project_page(self, project: str, wants_json: bool) -> None:
        wheels = self.wheels[project]
        if wants_json:
            files = []
            for wheel in wheels:
                item: dict[str, object] = {
                    "filename": wheel.filename,
                    "url": f"/files/{wheel.filename}",
                    "hashes": {"sha256": wheel.sha256},
                    "upload-time": wheel.package.uploaded.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "size": len(wheel.data),
                }
                if wheel.package.requires_python:
                    item["requires-python"] = wheel.package.requires_python
                files.append(item)
            versions = sorted({wheel.package.version for wheel in wheels})
            body = {"meta": {"api-version": "1.1"}, "name": project, "versions": versions, "files": files}
            self._send(200, JSON_TYPE, json.dumps(body).encode())
            return
        links = []
        for wheel in wheels:
            python = wheel.package.requires_python
            attribute = f' data-requires-python="{html.escape(python)}"' if python else ""
            links.append(f'<a href="/files/{wheel.filename}#sha256={wheel.sha256}"{attribute}>{wheel.filename}</a>\n')
        page = f"<!DOCTYPE html><html><body>\n{''.join(links)}</body></html>\n"
        self._send(200, "text/html", page.encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serve_index(wheels: Iterable[Wheel]) -> Iterator[str]:
    """Serve `wheels` on 127.0.0.1 while the block runs; yields the index URL (`http://127.0.0.1:PORT/simple`)."""
    by_project: dict[str, list[Wheel]] = {}
    files: dict[str, Wheel] = {}
    for wheel in wheels:
        by_project.setdefault(wheel.project, []).append(wheel)
        files[wheel.filename] = wheel
    handler = type("IndexHandler", (_Handler,), {"wheels": by_project, "files": files})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
