"""Hypothesis ledger: hash chain, crash safety, tamper detection, filtering."""

from __future__ import annotations

import json
import os

import pytest

from atom_sdk.science.ledger import GENESIS_HASH, HypothesisLedger, LedgerCorruptError


def fill(ledger: HypothesisLedger, n: int, run_id: str = "run") -> None:
    kinds = ["candidate", "accepted", "rejected"]
    for i in range(n):
        ledger.append(
            kinds[i % 3],
            run_id=run_id,
            equations=[{"equation": f"dA/dt = -{0.04 + i / 100:.4f} A + 1.0000 u"}],
            scores={"nmse": 0.1 * i, "nan": float("nan")},
            reasons=[f"reason {i}"],
            step=i,
        )


def test_append_verify_and_filter(tmp_path):
    path = tmp_path / "sub" / "ledger.jsonl"
    with HypothesisLedger(path) as led:
        assert len(led) == 0 and led.head == GENESIS_HASH
        fill(led, 4, "a")
        fill(led, 2, "b")
        assert len(led) == 6
        assert [r["seq"] for r in led] == list(range(6))
        assert led.records(run_id="b")[0]["seq"] == 4
        assert [r["seq"] for r in led.records(kind="candidate")] == [0, 3, 4]
        assert [r["seq"] for r in led.records(run_id="a", kind=["accepted", "rejected"])] == [1, 2]
        assert led.last["step"] == 1 and led.last["scores"]["nan"] is None  # non-finite -> null
        res = led.verify(expected_head=led.head)
        assert res.ok and res.n_records == 6 and bool(res)
    lines = path.read_bytes().splitlines()
    recs = [json.loads(ln) for ln in lines]
    assert recs[0]["prev_sha256"] == GENESIS_HASH
    for keys in recs:
        assert {"seq", "time", "run_id", "kind", "equations", "scores", "reasons", "prev_sha256"} <= set(keys)
    # reopening reads everything back and continues the chain
    with HypothesisLedger(path) as led:
        assert len(led) == 6
        fill(led, 1)
        assert led.verify().ok and led.last["seq"] == 6


def test_every_append_is_flushed_and_fsynced(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    with HypothesisLedger(tmp_path / "l.jsonl") as led:
        n0 = len(calls)
        fill(led, 3)
        assert len(calls) - n0 == 3
        # visible to an independent reader immediately
        assert len((tmp_path / "l.jsonl").read_bytes().splitlines()) == 3


def test_crash_mid_write_is_detected_ignored_and_appending_continues(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with HypothesisLedger(path) as led:
        fill(led, 3)
    data = path.read_bytes()
    first_two = b"".join(data.splitlines(keepends=True)[:2])
    # crash in the middle of writing the third line
    cut = len(first_two) + (len(data) - len(first_two)) // 2
    os.truncate(path, cut)
    torn = data[len(first_two) : cut]
    with pytest.warns(RuntimeWarning, match="torn final line"):
        led = HypothesisLedger(path)
    with led:
        assert len(led) == 2
        assert led.recovered is not None and led.recovered["bytes"] == len(torn)
        assert (tmp_path / "ledger.jsonl.torn").read_bytes().startswith(torn)
        assert path.read_bytes() == first_two  # earlier lines untouched, torn tail cut off
        rec = led.append("rejected", reasons=["after the crash"])
        assert rec["seq"] == 2
        assert led.verify().ok
    assert path.read_bytes().startswith(first_two)
    # read-only opening of a torn file reports but does not modify it
    os.truncate(path, len(path.read_bytes()) - 5)
    before = path.read_bytes()
    with pytest.warns(RuntimeWarning):
        ro = HypothesisLedger(path, readonly=True)
    assert len(ro) == 2 and path.read_bytes() == before
    assert not ro.verify().ok


def test_garbage_final_line_with_newline_is_treated_as_torn(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with HypothesisLedger(path) as led:
        fill(led, 2)
    with open(path, "ab") as fh:
        fh.write(b'\x00\x00\x00{"seq": 2\n')  # e.g. zero-filled block after a power loss
    with pytest.warns(RuntimeWarning):
        led = HypothesisLedger(path)
    with led:
        assert len(led) == 2
        led.append("candidate")
        assert led.verify().ok


def test_tampering_is_detected(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with HypothesisLedger(path) as led:
        fill(led, 5)
        head = led.head
    original = path.read_bytes()
    lines = original.splitlines(keepends=True)

    # 1. edit a coefficient in a middle record (still valid JSON)
    rec = json.loads(lines[2])
    rec["equations"][0]["equation"] = "dA/dt = -0.9999 A"
    path.write_bytes(b"".join(lines[:2] + [json.dumps(rec, separators=(",", ":")).encode() + b"\n"] + lines[3:]))
    res = HypothesisLedger(path, readonly=True).verify()
    assert not res.ok and res.first_bad_line == 4 and "hash chain" in res.problems[0]

    # 2. delete a line
    path.write_bytes(b"".join(lines[:1] + lines[2:]))
    assert not HypothesisLedger(path, readonly=True).verify().ok

    # 3. swap two lines
    path.write_bytes(b"".join([lines[0], lines[2], lines[1], *lines[3:]]))
    assert not HypothesisLedger(path, readonly=True).verify().ok

    # 4. edit the last line: only the stored head hash can reveal it
    rec = json.loads(lines[-1])
    rec["kind"] = "accepted" if rec["kind"] != "accepted" else "rejected"
    path.write_bytes(b"".join(lines[:-1] + [json.dumps(rec, separators=(",", ":")).encode() + b"\n"]))
    assert HypothesisLedger(path, readonly=True).verify().ok
    assert not HypothesisLedger(path, readonly=True).verify(expected_head=head).ok

    path.write_bytes(original)
    assert HypothesisLedger(path, readonly=True).verify(expected_head=head).ok


def test_corrupt_middle_line_refuses_to_append(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with HypothesisLedger(path) as led:
        fill(led, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"not json\n" + lines[2])
    with pytest.raises(LedgerCorruptError, match="line 2"):
        HypothesisLedger(path)
    ro = HypothesisLedger(path, readonly=True)
    res = ro.verify()
    assert not res.ok and res.first_bad_line == 2


def test_single_writer_and_validation(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "ledger.jsonl"
    led = HypothesisLedger(path)
    # another process cannot write the same ledger
    code = "import sys; from atom_sdk.science.ledger import HypothesisLedger; HypothesisLedger(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert proc.returncode != 0 and "LedgerCorruptError" in proc.stderr
    # within this process a newer object takes over (e.g. a resumed run); the old one stops
    led.append("candidate")
    newer = HypothesisLedger(path)
    newer.append("accepted")
    with pytest.raises(Exception, match="newer"):
        led.append("rejected")
    assert newer.verify().ok and len(newer) == 2
    newer.close()
    led = HypothesisLedger(path)
    ro = HypothesisLedger(path, readonly=True)  # readers are fine
    with pytest.raises(Exception, match="read-only"):
        ro.append("candidate")
    with pytest.raises(ValueError, match="kind"):
        led.append("maybe")
    with pytest.raises(ValueError, match="reserved"):
        led.append("candidate", seq=5)
    led.close()
    with HypothesisLedger(path) as again:  # the lock is released on close
        again.append("candidate")
