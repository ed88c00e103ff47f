"""The model store: immutable versions, atomic writes, checked loads, promote and rollback,
and the hash-chained promotion history with four eyes."""

import itertools
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from model_store import (
    ApprovalRequiredError,
    ChecksumMismatchError,
    HistoryEntry,
    HistoryTamperedError,
    ModelStore,
    ModelStoreError,
    VersionNotFoundError,
    sha256_of,
)
from model_store.__main__ import main as store_cli
from model_store.history import GENESIS_HASH
from model_store.manifest import ModelManifest, OrtFormat, ReportArtifact
from model_store.settings import StoreSettings
from model_store.store import VERSION_PATTERN
from tests.support.manifests import fake_artifacts, manifest_builder, save_in_child


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


def test_concurrent_saves_get_distinct_complete_versions(store: ModelStore) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    children = [
        context.Process(target=save_in_child, args=(str(store.root), s, queue)) for s in range(4)
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
    for version in (v1, v2, v3):
        store.promote(version, by="alice", reason="better")
    assert store.resolve("production") == v3
    assert store.load("production").version == v3
    assert store.aliases() == {"production": v3}
    assert store.rollback(by="bob", reason="incident").to_version == v2
    assert store.rollback(by="bob", reason="incident").to_version == v1
    assert store.resolve("production") == v1
    with pytest.raises(ModelStoreError, match="no earlier version"):
        store.rollback(by="bob", reason="incident")
    alias_file = store.root / "aliases" / "production.json"
    before = (alias_file.read_bytes(), _history_bytes(store))
    # Promoting the current target again changes nothing and records nothing: it answers
    # with the entry that set the alias.
    again = store.promote(v1, by="carol", reason="again")
    assert (again.action, again.actor, again.to_version) == ("rollback", "bob", v1)
    assert (alias_file.read_bytes(), _history_bytes(store)) == before
    assert store.resolve("production") == v1
    assert json.loads(alias_file.read_text())["entry_hash"] == again.hash
    assert not list((store.root / "aliases").glob(".*.tmp"))
    assert not list((store.root / "history").glob(".*.tmp"))


def test_unknown_versions_and_aliases_are_clear_errors(store: ModelStore) -> None:
    store.save(fake_artifacts(), manifest_builder())
    with pytest.raises(VersionNotFoundError, match="not in the store"):
        store.load("20990101T000000000000Z-abcdef")
    with pytest.raises(VersionNotFoundError, match="neither a version id nor an alias"):
        store.resolve("../../etc/passwd")
    with pytest.raises(VersionNotFoundError):
        store.promote("20990101T000000000000Z-abcdef", by="alice", reason="better")


def test_store_cli_lists_promotes_and_rolls_back(
    store: ModelStore, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = store.save(fake_artifacts(0), manifest_builder()).version
    v2 = store.save(fake_artifacts(1), manifest_builder()).version
    root = str(store.root)
    actor = ["--by", "alice", "--reason", "better"]
    assert store_cli(["--store", root, "promote", v1, *actor]) == 0
    assert store_cli(["--store", root, "promote", v2, *actor]) == 0
    assert store_cli(["--store", root, "rollback", *actor]) == 0
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


def test_the_ort_format_is_what_serves_and_what_a_serving_only_export_carries(
    store: ModelStore, tmp_path: Path
) -> None:
    """A version with onnxruntime's own format loads it, and its ONNX to fall back on,
    each checked like every artifact, and ships both to an image; one trained before it
    serves its ONNX (above)."""
    artifacts = fake_artifacts() | {"model.ort": b"ort format"}

    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        manifest = manifest_builder()(version, checksums)
        ort = OrtFormat(file="model.ort", sha256=checksums["model.ort"])
        compiled = manifest.compiled.model_copy(update={"ort": ort})
        return manifest.model_copy(update={"compiled": compiled})

    version = store.save(artifacts, build).version
    loaded = store.load(version)
    assert (loaded.compiled, loaded.onnx) == (b"ort format", artifacts["model.onnx"])
    target = tmp_path / "image-store"
    store.export(version, target, serving_only=True)
    shipped = sorted(p.name for p in (target / version).iterdir())
    assert shipped == ["manifest.json", "model.onnx", "model.ort"]
    assert ModelStore(target).load("production") == loaded
    (store.root / version / "model.ort").chmod(0o600)
    (store.root / version / "model.ort").write_bytes(b"tampered")
    with pytest.raises(ChecksumMismatchError, match=r"model\.ort"):
        store.load(version)


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


# -- the promotion history -------------------------------------------------------------------


def _history_bytes(store: ModelStore) -> dict[str, bytes]:
    directory = store.root / "history"
    return (
        {p.name: p.read_bytes() for p in sorted(directory.iterdir())} if directory.is_dir() else {}
    )


def _with_report(seed: int = 0) -> tuple[dict[str, bytes], object]:
    artifacts = {**fake_artifacts(seed), "report.html": f"<html>report {seed}</html>".encode()}

    def build(version: str, checksums: dict[str, str]) -> ModelManifest:
        report = ReportArtifact(file="report.html", sha256=checksums["report.html"])
        return manifest_builder(report=report)(version, checksums)

    return artifacts, build


def _three_moves(store: ModelStore) -> tuple[str, str]:
    v1 = store.save(*_with_report(0)).version
    v2 = store.save(*_with_report(1)).version
    store.promote(v1, by="alice", reason="first model")
    store.approve(v2, by="bob", reason="read the report")
    store.promote(v2, by="alice", reason="beats v1", comparison={"roc_auc": [0.71, 0.74]})
    return v1, v2


def test_every_move_is_on_a_verified_chain(store: ModelStore) -> None:
    assert store.history() == []
    v1, v2 = _three_moves(store)
    entries = store.history()
    assert [(e.sequence, e.action, e.actor, e.from_version, e.to_version) for e in entries] == [
        (1, "promote", "alice", None, v1),
        (2, "approve", "bob", v1, v2),
        (3, "promote", "alice", v1, v2),
    ]
    assert entries[0].previous_hash == GENESIS_HASH
    for before, entry in itertools.pairwise(entries):
        assert entry.previous_hash == before.hash
    for entry in entries:
        assert entry.hash == entry.computed_hash()
        assert entry.at.utcoffset().total_seconds() == 0
    assert entries[2].comparison == {"roc_auc": [0.71, 0.74]}
    assert entries[2].report_sha256 == store.get(v2).artifact_checksums()["report.html"]
    assert entries[0].report_sha256 == sha256_of(store.root / v1 / "report.html")
    head = json.loads((store.root / "history" / "head.json").read_text())
    assert head == {"entries": 3, "hash": entries[2].hash}
    alias = json.loads((store.root / "aliases" / "production.json").read_text())
    assert alias["entry_hash"] == entries[2].hash
    assert alias["history"] == [v1]
    lines = (store.root / "history" / "entries.jsonl").read_text().splitlines()
    assert [HistoryEntry.model_validate_json(line) for line in lines] == entries


def test_a_version_without_a_report_records_no_report_checksum(store: ModelStore) -> None:
    version = store.save(fake_artifacts(), manifest_builder()).version
    assert store.promote(version, by="alice", reason="first").report_sha256 is None


def _edit_reason(store: ModelStore) -> None:
    path = store.root / "history" / "entries.jsonl"
    path.write_text(path.read_text().replace('"reason":"beats v1"', '"reason":"beats v1!"'))


def _delete_middle_line(store: ModelStore) -> None:
    path = store.root / "history" / "entries.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2])


def _truncate_tail(store: ModelStore) -> None:
    path = store.root / "history" / "entries.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


def _remove_head(store: ModelStore) -> None:
    (store.root / "history" / "head.json").unlink()


def _forge_head(store: ModelStore) -> None:
    head = store.root / "history" / "head.json"
    head.write_text(json.dumps({"entries": 3, "hash": "f" * 64}))


def _remove_entries(store: ModelStore) -> None:
    (store.root / "history" / "entries.jsonl").unlink()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_edit_reason, r"line 3 \(sequence 3\): its hash does not match its content"),
        (_delete_middle_line, r"line 2 \(sequence 3\): expected sequence 2"),
        (_truncate_tail, r"head\.json records 3 entries but entries\.jsonl holds 2"),
        (_remove_head, r"head\.json is missing"),
        (_forge_head, r"head\.json's hash does not match the last entry's \(sequence 3\)"),
        (_remove_entries, r"entries\.jsonl is missing"),
    ],
)
def test_a_tampered_history_is_detected_and_refuses_promotions(
    store: ModelStore, tamper, message: str
) -> None:
    v1, v2 = _three_moves(store)
    store.history()  # intact before
    tamper(store)
    with pytest.raises(HistoryTamperedError, match=message):
        store.history()
    alias_file = store.root / "aliases" / "production.json"
    before = (alias_file.read_bytes(), _history_bytes(store))
    with pytest.raises(HistoryTamperedError):
        store.promote(v1, by="alice", reason="back")
    with pytest.raises(HistoryTamperedError):
        store.approve(v1, by="bob", reason="fine")
    with pytest.raises(HistoryTamperedError):
        store.rollback(by="alice", reason="back")
    assert (alias_file.read_bytes(), _history_bytes(store)) == before
    assert store.resolve("production") == v2


def test_a_rebuilt_line_with_a_recomputed_hash_still_breaks_the_chain(store: ModelStore) -> None:
    _three_moves(store)
    path = store.root / "history" / "entries.jsonl"
    lines = path.read_text().splitlines()
    forged = HistoryEntry.model_validate_json(lines[1]).model_copy(update={"actor": "mallory"})
    forged = forged.model_copy(update={"hash": forged.computed_hash()})
    lines[1] = forged.model_dump_json()
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(HistoryTamperedError, match=r"line 3 .*previous_hash does not match"):
        store.history()


def test_four_eyes_refuses_an_unapproved_promotion_and_changes_nothing(store: ModelStore) -> None:
    v1 = store.save(*_with_report(0)).version
    v2 = store.save(*_with_report(1)).version
    store.promote(v1, by="alice", reason="first model")
    alias_file = store.root / "aliases" / "production.json"
    before = (alias_file.read_bytes(), _history_bytes(store))
    with pytest.raises(ApprovalRequiredError, match="needs an approval"):
        store.promote(v2, by="alice", reason="better", requires_approval=True)
    assert (alias_file.read_bytes(), _history_bytes(store)) == before
    assert store.resolve("production") == v1


def test_four_eyes_does_not_count_a_self_approval(store: ModelStore) -> None:
    v1 = store.save(*_with_report(0)).version
    v2 = store.save(*_with_report(1)).version
    store.promote(v1, by="alice", reason="first model")
    store.approve(v2, by="alice", reason="I like it")
    before = _history_bytes(store)
    with pytest.raises(ApprovalRequiredError, match="promoter's own"):
        store.promote(v2, by=" Alice ", reason="better", requires_approval=True)
    assert _history_bytes(store) == before
    assert store.resolve("production") == v1


def test_four_eyes_accepts_another_persons_approval_once(store: ModelStore) -> None:
    v1 = store.save(*_with_report(0)).version
    v2 = store.save(*_with_report(1)).version
    store.promote(v1, by="alice", reason="first model")
    store.approve(v2, by="bob", reason="read the report")
    with pytest.raises(ApprovalRequiredError):  # approved for production, not for staging
        store.promote(v2, "staging", by="alice", reason="try", requires_approval=True)
    entry = store.promote(v2, by="alice", reason="better", requires_approval=True)
    assert (entry.action, entry.actor, entry.from_version, entry.to_version) == (
        "promote",
        "alice",
        v1,
        v2,
    )
    assert store.resolve("production") == v2
    # The approval is used up by the move: after production moves again, promoting v2 once
    # more needs a fresh approval.
    store.rollback(by="alice", reason="incident")
    with pytest.raises(ApprovalRequiredError, match=r"since 'production' last changed"):
        store.promote(v2, by="alice", reason="fixed", requires_approval=True)
    store.approve(v2, by="bob", reason="fix checked")
    store.promote(v2, by="alice", reason="fixed", requires_approval=True)
    assert store.resolve("production") == v2


def test_rollback_needs_no_approval_and_is_recorded(store: ModelStore) -> None:
    v1, v2 = _three_moves(store)
    entry = store.rollback(by="carol", reason="approval rate halved")
    assert (entry.action, entry.actor, entry.reason) == (
        "rollback",
        "carol",
        "approval rate halved",
    )
    assert (entry.from_version, entry.to_version) == (v2, v1)
    assert entry.report_sha256 == store.get(v1).artifact_checksums()["report.html"]
    assert store.history()[-1] == entry
    assert store.resolve("production") == v1


@pytest.mark.parametrize(("by", "reason", "missing"), [("", "x", "by"), ("alice", "  ", "reason")])
def test_every_move_names_who_and_why(
    store: ModelStore, by: str, reason: str, missing: str
) -> None:
    version = store.save(fake_artifacts(), manifest_builder()).version
    with pytest.raises(ModelStoreError, match=f"^{missing} is missing"):
        store.promote(version, by=by, reason=reason)
    with pytest.raises(ModelStoreError, match=f"^{missing} is missing"):
        store.approve(version, by=by, reason=reason)
    with pytest.raises(ModelStoreError, match=f"^{missing} is missing"):
        store.rollback(by=by, reason=reason)
    assert store.aliases() == {}
    assert store.history() == []


def test_history_is_a_reserved_name(store: ModelStore) -> None:
    version = store.save(fake_artifacts(), manifest_builder()).version
    with pytest.raises(ModelStoreError, match="reserved"):
        store.promote(version, "history", by="alice", reason="why not")
    with pytest.raises(VersionNotFoundError, match="reserved"):
        store.resolve("history")
    assert not (store.root / "aliases" / "history.json").exists()


def test_an_export_is_recorded_in_the_target_store(store: ModelStore, tmp_path: Path) -> None:
    version = store.save(fake_artifacts(), manifest_builder()).version
    target = tmp_path / "image-store"
    store.export(version, target, serving_only=True)
    (entry,) = ModelStore(target).history()
    assert (entry.action, entry.to_version) == ("promote", version)
    assert entry.actor
    assert entry.reason == f"exported from {store.root} (serving files only)"
    assert store.history() == []  # the source store did not move


def test_training_saves_but_does_not_promote_without_approval(store: ModelStore) -> None:
    from train.training import promote_trained

    v1 = store.save(fake_artifacts(0), manifest_builder()).version
    assert promote_trained(store, v1, "production", requires_approval=False) is None
    assert store.history()[0].actor.startswith("python -m train (")
    v2 = store.save(fake_artifacts(1), manifest_builder()).version
    refusal = promote_trained(store, v2, "production", requires_approval=True)
    assert refusal is not None
    assert f"python -m model_store approve {v2}" in refusal
    assert store.resolve("production") == v1


def test_store_cli_needs_who_and_why_and_prints_the_history(
    store: ModelStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = store.save(fake_artifacts(0), manifest_builder()).version
    v2 = store.save(fake_artifacts(1), manifest_builder()).version
    root = str(store.root)
    with pytest.raises(SystemExit) as refused:
        store_cli(["--store", root, "promote", v1, "--reason", "better"])
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as refused:
        store_cli(["--store", root, "rollback", "--by", "alice"])
    assert refused.value.code == 2
    assert store.aliases() == {}
    assert store_cli(["--store", root, "promote", v1, "--by", "alice", "--reason", "first"]) == 0
    monkeypatch.setenv("PROMOTION_REQUIRES_APPROVAL", "true")
    assert store_cli(["--store", root, "promote", v2, "--by", "alice", "--reason", "next"]) == 1
    assert "needs an approval" in capsys.readouterr().err
    assert store_cli(["--store", root, "approve", v2, "--by", "bob", "--reason", "ok"]) == 0
    assert store_cli(["--store", root, "promote", v2, "--by", "alice", "--reason", "next"]) == 0
    capsys.readouterr()
    assert store_cli(["--store", root, "history"]) == 0
    out = capsys.readouterr().out.splitlines()
    entries = store.history()
    assert len(out) == 1 + 3 + 1  # header, three entries, head
    day, time = f"{entries[0].at:%Y-%m-%d %H:%M:%S}".split()
    assert out[1].split() == [
        "1",
        day,
        time,
        "promote",
        "production",
        "-",
        "->",
        v1,
        "alice",
        "first",
    ]
    assert out[2].split()[3:] == ["approve", "production", v1, "->", v2, "bob", "ok"]
    assert out[3].split()[3:] == ["promote", "production", v1, "->", v2, "alice", "next"]
    assert out[-1] == f"head: 3 entries, hash {entries[-1].hash} (verified)"
    assert store_cli(["--store", root, "history", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [HistoryEntry.model_validate_json(line) for line in lines] == entries
    _truncate_tail(store)
    assert store_cli(["--store", root, "history"]) == 1
    assert "fails its check" in capsys.readouterr().err


def test_an_alias_set_before_the_history_gets_on_the_record(store: ModelStore) -> None:
    version = store.save(fake_artifacts(), manifest_builder()).version
    (store.root / "aliases").mkdir()
    legacy = {"version": version, "promoted_at": "2026-01-01T00:00:00+00:00", "history": []}
    (store.root / "aliases" / "production.json").write_text(json.dumps(legacy))
    assert store.history() == []
    entry = store.promote(version, by="alice", reason="on the record")
    assert (entry.sequence, entry.from_version, entry.to_version) == (1, version, version)
    assert store.promote(version, by="alice", reason="again") == entry  # now a no-op
    assert store.history() == [entry]
    assert store.resolve("production") == version


def test_a_missing_store_has_an_empty_history_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ModelStore(tmp_path / "never-created").history() == []
    assert store_cli(["--store", str(tmp_path / "never-created"), "history"]) == 0
    assert capsys.readouterr().out == "no promotions recorded\n"
    assert not (tmp_path / "never-created").exists()
