"""The model store: immutable versions, atomic writes, checked loads, promote and rollback."""

import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from model_store import (
    ChecksumMismatchError,
    ModelStore,
    ModelStoreError,
    VersionNotFoundError,
    sha256_of,
)
from model_store.__main__ import main as store_cli
from model_store.manifest import ModelManifest
from model_store.settings import StoreSettings
from model_store.store import VERSION_PATTERN
from tests.support.models import fake_artifacts, manifest_builder


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def test_save_writes_model_and_manifest_with_its_checksum(store: ModelStore) -> None:
    manifest = store.save(fake_artifacts(), manifest_builder())
    directory = store.root / manifest.version
    assert VERSION_PATTERN.match(manifest.version)
    assert sorted(p.name for p in directory.iterdir()) == [
        "manifest.json",
        "model.joblib",
        "model.onnx",
    ]
    assert manifest.model_sha256 == sha256_of(directory / "model.joblib")
    assert manifest.compiled.sha256 == sha256_of(directory / "model.onnx")
    on_disk = json.loads((directory / "manifest.json").read_text())
    assert on_disk["version"] == manifest.version
    assert on_disk["libraries"]["scikit_learn"]
    for path in directory.iterdir():
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_versions_are_unique_sortable_and_never_overwritten(store: ModelStore) -> None:
    first = store.save(fake_artifacts(0), manifest_builder())
    second = store.save(fake_artifacts(1), manifest_builder())
    assert first.version < second.version
    assert [m.version for m in store.list()] == [second.version, first.version]
    assert store.get(first.version).model_sha256 == first.model_sha256
    assert store.latest() == second.version


def _save_in_child(root: str, seed: int, queue: "multiprocessing.Queue[str]") -> None:
    queue.put(ModelStore(root).save(fake_artifacts(seed), manifest_builder()).version)


def test_concurrent_saves_get_distinct_complete_versions(store: ModelStore) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [
        context.Process(target=_save_in_child, args=(str(store.root), s, queue)) for s in range(4)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
        assert child.exitcode == 0
    versions = {queue.get(timeout=5) for _ in children}
    assert len(versions) == 4
    assert {m.version for m in store.list()} == versions
    for version in versions:
        store.load(version)  # every one is complete and passes its checks


def test_a_crash_mid_write_leaves_no_version_visible(store: ModelStore) -> None:
    def crash(version: str, model_sha256: str):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.save(fake_artifacts(), crash)
    assert store.list() == []
    assert list(store.root.iterdir()) == []  # the staging directory was removed too


def test_a_killed_writer_leaves_only_an_invisible_staging_directory(store: ModelStore) -> None:
    good = store.save(fake_artifacts(), manifest_builder())
    leftover = store.root / ".staging-deadbeef"
    leftover.mkdir()
    (leftover / "model.joblib").write_bytes(b"half a model")
    assert [m.version for m in store.list()] == [good.version]
    assert store.remove_stale_staging() == [".staging-deadbeef"]
    assert not leftover.exists()


def test_load_returns_the_compiled_model_and_manifest(store: ModelStore) -> None:
    manifest = store.save(fake_artifacts(), manifest_builder())
    loaded = store.load(manifest.version)
    assert loaded.compiled == fake_artifacts()["model.onnx"]
    assert loaded.manifest == manifest
    assert loaded.version == manifest.version
    assert loaded.threshold == 0.5


def _make_writable(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_corrupted_pipeline_file_is_refused_when_read(store: ModelStore) -> None:
    manifest = store.save(fake_artifacts(), manifest_builder())
    model_file = store.root / manifest.version / "model.joblib"
    _make_writable(model_file)
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError, match="changed or corrupted"):
        store.read_artifact(manifest, "model.joblib")
    store.load(manifest.version)  # serving reads the compiled model only, which is intact


def test_a_tampered_compiled_model_is_refused(store: ModelStore) -> None:
    manifest = store.save(fake_artifacts(), manifest_builder())
    path = store.root / manifest.version / "model.onnx"
    _make_writable(path)
    path.write_bytes(b"pretend this is a better graph")
    with pytest.raises(ChecksumMismatchError, match=r"model\.onnx"):
        store.load(manifest.version)


def test_a_manifest_must_record_the_checksums_of_what_was_written(store: ModelStore) -> None:
    def lying(version: str, checksums: dict[str, str]) -> ModelManifest:
        return manifest_builder()(version, {**checksums, "model.joblib": "0" * 64})

    with pytest.raises(ModelStoreError, match="checksums"):
        store.save(fake_artifacts(), lying)
    assert store.list() == []


def test_promote_and_rollback_move_the_alias(store: ModelStore) -> None:
    v1 = store.save(fake_artifacts(0), manifest_builder()).version
    v2 = store.save(fake_artifacts(1), manifest_builder()).version
    v3 = store.save(fake_artifacts(2), manifest_builder()).version
    with pytest.raises(VersionNotFoundError, match="not set"):
        store.resolve("production")
    store.promote(v1)
    store.promote(v2)
    store.promote(v3)
    assert store.resolve("production") == v3
    assert store.load("production").version == v3
    assert store.aliases() == {"production": v3}
    assert store.rollback() == v2
    assert store.rollback() == v1
    assert store.resolve("production") == v1
    with pytest.raises(ModelStoreError, match="no earlier version"):
        store.rollback()
    store.promote(v1)  # promoting the current target again changes nothing
    assert store.resolve("production") == v1
    assert not list((store.root / "aliases").glob(".*.tmp"))


def test_unknown_versions_and_aliases_are_clear_errors(store: ModelStore) -> None:
    store.save(fake_artifacts(), manifest_builder())
    with pytest.raises(VersionNotFoundError, match="not in the store"):
        store.load("20990101T000000000000Z-abcdef")
    with pytest.raises(VersionNotFoundError, match="neither a version id nor an alias"):
        store.resolve("../../etc/passwd")
    with pytest.raises(VersionNotFoundError):
        store.promote("20990101T000000000000Z-abcdef")


def test_store_cli_lists_promotes_and_rolls_back(
    store: ModelStore, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = store.save(fake_artifacts(0), manifest_builder()).version
    v2 = store.save(fake_artifacts(1), manifest_builder()).version
    root = str(store.root)
    assert store_cli(["--store", root, "promote", v1]) == 0
    assert store_cli(["--store", root, "promote", v2]) == 0
    assert store_cli(["--store", root, "rollback"]) == 0
    assert store_cli(["--store", root, "list"]) == 0
    assert store_cli(["--store", root, "show", "nope-not-here"]) == 1
    out, err = capsys.readouterr()
    assert f"production -> {v1}" in out.splitlines()[-3]
    assert f"{v1}  roc_auc=0.5000" in out
    assert "error:" in err


def test_an_empty_or_missing_store_lists_nothing(tmp_path: Path) -> None:
    assert ModelStore(tmp_path / "never-created").list() == []
    assert ModelStore(tmp_path / "never-created").aliases() == {}
    assert not os.path.exists(tmp_path / "never-created")


def test_export_copies_a_checked_version_and_aliases_it(store: ModelStore, tmp_path: Path) -> None:
    v1 = store.save(fake_artifacts(0), manifest_builder()).version
    target = tmp_path / "image-store"
    assert store.export(v1, target) == v1
    exported = ModelStore(target)
    assert exported.resolve("production") == v1
    assert exported.load("production").manifest == store.get(v1)
    assert [p.name for p in target.iterdir() if p.name.startswith(".staging")] == []


def test_export_refuses_a_corrupted_version(store: ModelStore, tmp_path: Path) -> None:
    version = store.save(fake_artifacts(), manifest_builder()).version
    model_file = store.root / version / "model.joblib"
    _make_writable(model_file)
    model_file.write_bytes(b"not a model")
    with pytest.raises(ChecksumMismatchError):
        store.export(version, tmp_path / "image-store")
    assert not (tmp_path / "image-store" / version).exists()


def test_a_serving_only_export_carries_no_pickle(store: ModelStore, tmp_path: Path) -> None:
    version = store.save(fake_artifacts(), manifest_builder()).version
    target = tmp_path / "image-store"
    store.export(version, target, serving_only=True)
    assert sorted(p.name for p in (target / version).iterdir()) == ["manifest.json", "model.onnx"]
    assert ModelStore(target).load("production").compiled == fake_artifacts()["model.onnx"]


def test_every_entry_point_reads_the_store_settings_from_one_definition(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from service.settings import ServiceSettings
    from train.settings import TrainSettings

    defaults = StoreSettings()
    for settings in (ServiceSettings, TrainSettings):
        assert issubclass(settings, StoreSettings)
        assert settings().model_store_dir == defaults.model_store_dir
        assert settings().model_version == defaults.model_version
    monkeypatch.setenv("MODEL_STORE_DIR", str(tmp_path))
    assert {ServiceSettings().model_store_dir, TrainSettings().model_store_dir} == {tmp_path}
