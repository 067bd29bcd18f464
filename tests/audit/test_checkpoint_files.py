"""Reading the checkpoints kept outside the database: a node's folder, or a file a manager kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpoint_files import CheckpointFile, CheckpointFileError, read_kept_file
from audit.checkpoints import CheckpointSigner, checkpoint_json

pytestmark = pytest.mark.allow_blocking

SIGNER = CheckpointSigner(Ed25519PrivateKey.generate())
FOUR = SIGNER.sign(4, b"\x04" * 32, datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
EIGHT = SIGNER.sign(8, b"\x08" * 32, datetime(2026, 3, 3, 9, 1, tzinfo=UTC))


def test_a_manager_may_keep_one_checkpoint_a_file_of_them_or_a_bundle(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(checkpoint_json(EIGHT)))
    lines = tmp_path / "lines.jsonl"
    lines.write_text("".join(json.dumps(checkpoint_json(c)) + "\n" for c in (FOUR, EIGHT)))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(
        json.dumps(
            {
                "format": "throughcare-audit-bundle/v2",
                "checkpoints": {
                    "start": None,
                    "end": checkpoint_json(FOUR),
                    "latest": checkpoint_json(EIGHT),
                },
            }
        )
    )
    assert read_kept_file(one).checkpoints == [EIGHT]
    assert read_kept_file(lines).checkpoints == [FOUR, EIGHT]
    assert read_kept_file(bundle).checkpoints == [FOUR, EIGHT]


@pytest.mark.parametrize(
    "content", ["", "not json", '{"size": 8}', '{"size": "eight", "root": "00"}\n']
)
def test_a_kept_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "kept.json"
    path.write_text(content)
    with pytest.raises(CheckpointFileError):
        read_kept_file(path)


def test_a_node_name_cannot_lead_the_file_out_of_its_folder(tmp_path: Path) -> None:
    file = CheckpointFile(tmp_path / "checkpoints", "../../etc/node 1")
    file.append(FOUR)
    assert file.path.parent == tmp_path / "checkpoints"
    assert file.path.name == ".._.._etc_node_1.jsonl"
    assert file.last() == FOUR
