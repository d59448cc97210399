#!/usr/bin/env python3
"""Write a single-layer docker-archive (what `docker load` and `ctr images import` read).

    mkimage.py --out img.tar --tag registry.k8s.io/pause:3.10.2 [--tag ...] \
        [--layer layer.tar | --dir ROOT] [--entrypoint '["/pause"]'] [--cmd '[...]'] \
        [--env K=V ...] [--user 65532] [--workdir /] [--stop-signal SIGRTMIN+3]

--dir packs a directory (owner root, mtime 0, sorted: the same input gives the same bytes);
--layer takes a ready tar (e.g. GNU tar of a debootstrap rootfs). Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

CHUNK = 1 << 20


def pack_dir(root: Path, out: Path) -> None:
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for base, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = Path(base) / name
                info = tar.gettarinfo(str(path), str(path.relative_to(root)))
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                if info.isfile():
                    with path.open("rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tag", action="append", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--layer")
    src.add_argument("--dir")
    ap.add_argument("--entrypoint", default="")
    ap.add_argument("--cmd", default="")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--user", default="")
    ap.add_argument("--workdir", default="/")
    ap.add_argument("--stop-signal", default="")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        if args.dir:
            layer = Path(tmp) / "layer.tar"
            pack_dir(Path(args.dir), layer)
        else:
            layer = Path(args.layer)
        diff_id = sha256_of(layer)
        env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *args.env]
        config: dict[str, object] = {"Env": env, "WorkingDir": args.workdir}
        if args.entrypoint:
            config["Entrypoint"] = json.loads(args.entrypoint)
        if args.cmd:
            config["Cmd"] = json.loads(args.cmd)
        if args.user:
            config["User"] = args.user
        if args.stop_signal:
            config["StopSignal"] = args.stop_signal
        image = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tools/kind-node/mkimage.py"}],
        }
        config_bytes = json.dumps(image, sort_keys=True).encode()
        config_id = hashlib.sha256(config_bytes).hexdigest()
        manifest = [{"Config": f"{config_id}.json", "RepoTags": args.tag, "Layers": [f"{diff_id}/layer.tar"]}]
        part = out.with_name(out.name + ".part")
        with tarfile.open(part, "w", format=tarfile.PAX_FORMAT) as tar:
            add_bytes(tar, f"{config_id}.json", config_bytes)
            info = tar.gettarinfo(str(layer), f"{diff_id}/layer.tar")
            info.uid = info.gid = 0
            info.mtime = 0
            with layer.open("rb") as f:
                tar.addfile(info, f)
            add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        part.replace(out)
    size_mb = out.stat().st_size >> 20
    print(f"{out}: {', '.join(args.tag)} (layer sha256:{diff_id[:12]}, {size_mb} MB)")


if __name__ == "__main__":
    main()
