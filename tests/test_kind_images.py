"""The upstream kind node image path and the kind build cache, without an engine.

With `--kind-node-image kindest/node:<pinned>` the provider builds only the suite's own images
(`tools/build-kind-node.sh --images-only`, no node rootfs) and loads them with `kind load
image-archive`; these tests pin the list it asks for (read off the objects and pods the suite
runs), the archives it picks (by the names inside them, written by the real mkimage.py) and the
commands. tools/kind-node/prune.sh (run after every successful build) is self-tested on a
temporary cache folder.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conformance.cluster.kind import (
    KUBE_VERSION,
    PROBE_IMAGE,
    TARGET_IMAGE,
    WORKLOAD_IMAGE,
    ConsumerWorkloads,
    KindCommands,
    KindProvider,
    archive_tags,
    archives_for,
    is_own_node_image,
    metrics_server_stack,
    suite_images,
)
from conformance.cluster.kind_addons import kube_router_stack
from conformance.errors import InfraError
from conformance.settings import Settings
from conformance.tools import REPO

BUILD = REPO / "tools" / "build-kind-node.sh"
MKIMAGE = REPO / "tools" / "kind-node" / "mkimage.py"
PRUNE = REPO / "tools" / "kind-node" / "prune.sh"
UPSTREAM_ENV = REPO / "tools" / "kind-node" / "upstream.env"
TOOLS_BIN = REPO / ".tools" / "bin"


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a sourced .env file (comments and blank lines left out)."""
    pairs: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


def build(*args: str) -> subprocess.CompletedProcess[str]:
    """tools/build-kind-node.sh with `args` (only --print forms here: nothing is built)."""
    return subprocess.run([str(BUILD), *args], capture_output=True, text=True, check=False, timeout=120)


def mkimage(out: Path, *tags: str) -> Path:
    """A real single-layer docker-archive of a one-file folder, by the build's own mkimage.py."""
    root = out.parent / f"{out.stem}-root"
    root.mkdir()
    (root / "hello").write_text("hello\n")
    tag_args = [arg for tag in tags for arg in ("--tag", tag)]
    subprocess.run(
        ["python3", str(MKIMAGE), "--out", str(out), *tag_args, "--dir", str(root)],
        check=True,
        capture_output=True,
    )
    return out


# -- the list ------------------------------------------------------------------------------------


def test_suite_images_are_read_off_what_the_suite_runs() -> None:
    applied = [*kube_router_stack("x/kube-router:1"), *metrics_server_stack("x/metrics-server:1")]
    assert {c["image"] for o in applied for c in o.get("spec", {}).get("template", {}).get("spec", {}).get(
        "containers", [])} == {"x/kube-router:1", "x/metrics-server:1"}  # fmt: skip
    images = suite_images()
    assert images == sorted(set(images)), "sorted, each once"
    assert images == [
        "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
        "tartware.local/conformance/kube-router:v2.1.0",
        f"tartware.local/conformance/probe:{KUBE_VERSION}",
        f"tartware.local/conformance/resource-consumer:{KUBE_VERSION}",
        f"tartware.local/conformance/target:{KUBE_VERSION}",
    ]
    assert {PROBE_IMAGE, TARGET_IMAGE, WORKLOAD_IMAGE, ConsumerWorkloads().image} <= set(images)
    # Nothing an upstream node image brings itself (control plane, etcd, pause, CoreDNS, kube-proxy).
    assert not [i for i in images if re.search(r"/(kube-apiserver|etcd|pause|coredns|kube-proxy):", i)]


@pytest.mark.skipif(
    not all((TOOLS_BIN / b).exists() for b in ("kube-router", "metrics-server")),
    reason="the images-only build packs .tools/bin/kube-router and metrics-server: run make tools",
)
def test_the_build_knows_every_suite_image_and_refuses_an_unknown_one() -> None:
    images = suite_images()
    ok = build("--images-only", "--print", *reversed(images))
    assert ok.returncode == 0, ok.stderr
    [folder] = ok.stdout.split()
    assert re.fullmatch(rf".*/kind-images-{KUBE_VERSION}-[0-9a-f]{{12}}", folder), folder
    # The same images in another order: the same cache folder (the key is the set, not the order).
    assert build("--images-only", "--print", *images).stdout.split() == [folder]
    fewer = build("--images-only", "--print", *images[1:])
    assert fewer.returncode == 0 and fewer.stdout.split() != [folder], "another set is another build"
    bad = build("--images-only", "--print", *images, "tartware.local/conformance/nope:v1")
    assert bad.returncode != 0 and bad.stdout == ""
    assert "no image of this build is tagged tartware.local/conformance/nope:v1" in bad.stderr, bad.stderr
    stray = build("--print", PROBE_IMAGE)
    assert stray.returncode == 2 and "go with --images-only" in stray.stderr, stray.stderr


# -- the archives and the commands ---------------------------------------------------------------


def test_archives_are_chosen_by_the_names_inside_them(tmp_path: Path) -> None:
    probe = mkimage(tmp_path / "probe.tar", PROBE_IMAGE)
    pause = mkimage(tmp_path / "pause.tar", "registry.k8s.io/pause:3.10.2", "registry.k8s.io/pause:3.10")
    mkimage(tmp_path / "other.tar", "tartware.local/conformance/other:v1")
    assert archive_tags(pause) == ["registry.k8s.io/pause:3.10.2", "registry.k8s.io/pause:3.10"]
    assert archives_for(tmp_path, [PROBE_IMAGE, "registry.k8s.io/pause:3.10"]) == [pause, probe]
    cmds = KindCommands("/t/kind", "/usr/bin/docker", "tw-9", tmp_path / "kind.yaml", tmp_path / "kubeconfig")
    assert [cmds.load_archive(a) for a in archives_for(tmp_path, [PROBE_IMAGE])] == [
        ["/t/kind", "load", "image-archive", str(probe), "--name", "tw-9"]
    ]
    with pytest.raises(InfraError, match=rf"{tmp_path}: no image archive carries {re.escape(TARGET_IMAGE)}$"):
        archives_for(tmp_path, [PROBE_IMAGE, TARGET_IMAGE])


def test_a_broken_archive_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tar"
    broken.write_text("not a tar")
    with pytest.raises(InfraError, match=rf"^{broken}: not a docker-archive"):
        archive_tags(broken)
    with pytest.raises(InfraError, match=rf"^{broken}: not a docker-archive"):
        archives_for(tmp_path, [PROBE_IMAGE])


def test_this_checkouts_images_only_build_carries_every_suite_image() -> None:
    """The folder the provider would use, if built (only --print here: nothing is built)."""
    where = build("--images-only", "--print", *suite_images())
    if where.returncode != 0 or not (Path(where.stdout.strip()) / "images.txt").is_file():
        pytest.skip(f"no images-only build for this checkout in the tool cache: {where.stderr.strip()}")
    chosen = archives_for(Path(where.stdout.strip()), suite_images())
    assert {tag for a in chosen for tag in archive_tags(a)} == set(suite_images())
    assert len(chosen) == len(suite_images()), "one archive per image"


def test_the_provider_asks_for_the_suite_images_and_loads_each_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upstream node image: the provider asks the build for suite_images() and gets one archive
    per image; a build that lacks one is an error before any cluster exists."""
    for i, image in enumerate(suite_images()):
        mkimage(tmp_path / f"a{i}.tar", image)
    asked: list[list[str]] = []

    def build_stub(images: list[str], _progress: object = None) -> Path:
        asked.append(images)
        return tmp_path

    monkeypatch.setattr("conformance.cluster.kind.suite_images_build", build_stub)
    provider = KindProvider(Settings.from_env({"CONFORMANCE_KIND_NODE_IMAGE": "kindest/node:v1.36.3"}))
    archives = provider._suite_archives()
    assert asked == [suite_images()]
    assert archives == sorted(tmp_path.glob("a*.tar")) and len(archives) == len(suite_images())
    assert "suite image archives build/check" in provider.timings
    (tmp_path / "a0.tar").unlink()
    with pytest.raises(InfraError, match=rf"no image archive carries {re.escape(suite_images()[0])}"):
        provider._suite_archives()


def test_own_node_images_are_told_from_upstream_ones() -> None:
    assert is_own_node_image("tartware.local/kind-node:v1.36.3-0123456789ab")
    assert not is_own_node_image("kindest/node:v1.36.3")
    assert not is_own_node_image("tartware.local/kind-node-other:v1")


def test_the_upstream_node_image_is_pinned_to_the_control_plane_version() -> None:
    pinned = env_file(UPSTREAM_ENV)["KIND_UPSTREAM_NODE_IMAGE"]
    kube = env_file(REPO / "tools" / "controlplane-versions.env")["KUBE_VERSION"]
    assert kube == KUBE_VERSION
    # A tag, or a tag with the index digest once someone who can pull fills it in; never a bare name.
    assert re.fullmatch(rf"kindest/node:{re.escape(kube)}(@sha256:[0-9a-f]{{64}})?", pinned), pinned


# -- cache pruning ---------------------------------------------------------------------------------


def build_dir(cache: Path, name: str, age_s: int, mb: int = 1, image: str = "") -> Path:
    """A fake build folder of `mb` MB, last used `age_s` seconds ago."""
    folder = cache / name
    folder.mkdir()
    (folder / "blob").write_bytes(b"\1" * ((mb << 20) - (64 << 10)))  # du rounds the folder up to `mb`
    if image:
        (folder / "image").write_text(image + "\n")
    when = 1_700_000_000 - age_s
    os.utime(folder, (when, when))
    return folder


def prune(cache: Path, *in_use: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PRUNE), str(cache), *map(str, in_use)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=120,
    )


def test_prune_keeps_the_newest_two_and_the_one_in_use(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    nodes = [build_dir(cache, f"kind-node-v1.36.3-{h}", age, 2, f"tartware.local/kind-node:v1.36.3-{h}")
             for h, age in (("aaa", 10), ("bbb", 20), ("ccc", 30), ("ddd", 40))]  # fmt: skip
    bins = [build_dir(cache, f"kind-node-bin-{h}", age) for h, age in (("b1", 5), ("b2", 6), ("b3", 7))]
    images = [
        build_dir(cache, f"kind-images-v1.36.3-{h}", age) for h, age in (("i1", 1), ("i2", 2), ("i3", 3))
    ]
    half = build_dir(cache, "kind-node-v1.36.3-eee.tmp", 99)  # a build still being written
    work = build_dir(cache, ".kind-node-work.x", 99)
    rootfs = cache / "kind-node-rootfs-r.tar"
    rootfs.write_text("")
    other = build_dir(cache, "kube-v1.36.3", 999)
    out = prune(cache, nodes[3], bins[2])  # the oldest node build and Go builds are this run's
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"kind-node: pruned {nodes[2]} (2 MB)",
        f"kind-node: pruned {images[2]} (1 MB)",
    ]
    assert [n.exists() for n in nodes] == [True, True, False, True]
    assert all(b.exists() for b in bins), "two newest + the one in use"
    assert [i.exists() for i in images] == [True, True, False]
    assert half.exists() and work.exists() and rootfs.exists() and other.exists()
    assert prune(cache, nodes[3], bins[2]).stdout == "", "nothing left to prune"


def test_prune_spares_a_node_build_a_running_container_uses(tmp_path: Path) -> None:
    """Another checkout's cluster runs the old image: the engine says so (`docker ps`), the build stays."""
    cache = tmp_path / "cache"
    cache.mkdir()
    nodes = [build_dir(cache, f"kind-node-v1.36.3-{h}", age, 1, f"tartware.local/kind-node:v1.36.3-{h}")
             for h, age in (("aaa", 1), ("bbb", 2), ("ccc", 3), ("ddd", 4))]  # fmt: skip
    engine = tmp_path / "bin"
    engine.mkdir()
    docker = engine / "docker"
    docker.write_text('#!/bin/sh\n[ "$1" = ps ] && echo tartware.local/kind-node:v1.36.3-ccc\n')
    docker.chmod(0o755)
    out = prune(cache, env={"PATH": f"{engine}:{os.environ['PATH']}"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"kind-node: pruned {nodes[3]} (1 MB)"]
    assert [n.exists() for n in nodes] == [True, True, True, False]


def test_prune_refuses_a_bad_keep_count_and_takes_another(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    nodes = [build_dir(cache, f"kind-node-v1.36.3-{h}", age) for h, age in (("aaa", 1), ("bbb", 2))]
    bad = prune(cache, env={"KIND_NODE_KEEP": "0"})
    assert bad.returncode == 2 and "KIND_NODE_KEEP=0" in bad.stderr and all(n.exists() for n in nodes)
    one = prune(cache, env={"KIND_NODE_KEEP": "1"})
    assert one.stdout.splitlines() == [f"kind-node: pruned {nodes[1]} (1 MB)"]
    assert prune(tmp_path / "absent").returncode == 0, "an empty cache is nothing to prune"


def test_the_build_prunes_after_success_only() -> None:
    """Both build modes end with prune (the build in use and its Go builds named), after the
    build's folder is in place; KIND_NODE_PRUNE=0 switches it off."""
    text = BUILD.read_text()
    assert (
        'prune() { [[ ${KIND_NODE_PRUNE:-1} == 0 ]] || "$NODE_DIR/prune.sh" "$CACHE_ROOT" "$OUT" "$BIN"; }'
        in text
    )
    calls = [i for i, line in enumerate(text.splitlines()) if line.strip() == "prune"]
    moves = [i for i, line in enumerate(text.splitlines()) if 'mv "$OUT.tmp" "$OUT"' in line]
    assert len(calls) == 2 and len(moves) == 2 and all(m < c for m, c in zip(moves, calls, strict=True))
