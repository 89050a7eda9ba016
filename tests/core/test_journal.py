"""The append-only journal: records are on disk when `append` returns, an incomplete last line
(a crash mid-write) is left out and cut off before the next append, and a damaged complete
line is an error, never a silent loss."""

import json

import pytest

from tfrec.core.journal import JournalError, JournalWriter, latest_entries, read_journal


def test_append_then_read_in_order(tmp_path):
    path = tmp_path / "sub" / "j.jsonl"
    writer = JournalWriter(path)
    writer.append({"items": [{"item_id": "a"}]})
    writer.append({"items": [{"item_id": "b", "title": "caf\u00e9 \U0001f600"}]})
    writer.close()
    contents = read_journal(path)
    assert [r["items"][0]["item_id"] for r in contents.records] == ["a", "b"]
    assert contents.records[1]["items"][0]["title"] == "caf\u00e9 \U0001f600"
    assert contents.torn_bytes == 0
    assert path.read_bytes().isascii() and path.read_bytes().endswith(b"\n")


def test_torn_last_line_is_left_out_then_cut_before_the_next_append(tmp_path):
    path = tmp_path / "j.jsonl"
    complete = json.dumps({"items": [{"item_id": "a"}]}) + "\n"
    path.write_text(complete + '{"items": [{"item_id": "to')  # killed mid-write
    contents = read_journal(path)
    assert [r["items"][0]["item_id"] for r in contents.records] == ["a"]
    assert contents.torn_bytes == len('{"items": [{"item_id": "to')

    writer = JournalWriter(path)
    writer.append({"items": [{"item_id": "b"}]})  # repairs first: b starts its own line
    writer.close()
    contents = read_journal(path)
    assert [r["items"][0]["item_id"] for r in contents.records] == ["a", "b"]
    assert contents.torn_bytes == 0


def test_a_damaged_complete_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"items": []}\nnot json\n{"items": []}\n')
    with pytest.raises(JournalError, match="line 2"):
        read_journal(path)


def test_no_journal_is_empty(tmp_path):
    assert read_journal(tmp_path / "missing.jsonl").records == []


def test_latest_entries_keep_the_last_update_of_each_key():
    records = [
        {"items": [{"item_id": "a", "title": "1"}, {"item_id": "b", "title": "1"}]},
        {"items": [{"item_id": "a", "title": "2"}]},
    ]
    assert latest_entries(records, "items", "item_id") == [
        {"item_id": "b", "title": "1"},
        {"item_id": "a", "title": "2"},
    ]
