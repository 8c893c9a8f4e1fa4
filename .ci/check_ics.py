"""Parses every calendar the test suite produced with Python's icalendar (an independent
parser) and checks the properties calendar clients rely on. Exits non-zero on any failure."""

import pathlib
import sys

from icalendar import Calendar

folder = pathlib.Path(sys.argv[1])
files = sorted(folder.glob("*.ics"))
passed = failed = 0
for path in files:
    raw = path.read_bytes()
    try:
        cal = Calendar.from_ical(raw)
        assert cal.get("METHOD") in ("PUBLISH", "REQUEST", "CANCEL"), "METHOD"
        tzids = [tz.get("TZID") for tz in cal.walk("VTIMEZONE")]
        assert tzids == ["Europe/London"], f"VTIMEZONE {tzids}"
        events = cal.walk("VEVENT")
        assert events, "no events"
        for event in events:
            assert str(event.get("UID")).endswith("@cascade"), "UID"
            assert event.decoded("DTSTAMP").utcoffset().total_seconds() == 0, "DTSTAMP not UTC"
            start = event.decoded("DTSTART")
            assert str(start.tzinfo) in ("Europe/London", "GMT", "BST") or start.tzinfo is not None, "DTSTART tz"
            assert event.decoded("DTEND") > start, "DTEND after DTSTART"
            assert int(event.get("SEQUENCE")) >= 0, "SEQUENCE"
            assert str(event.get("STATUS")) in ("CONFIRMED", "CANCELLED"), "STATUS"
        for line in raw.split(b"\r\n"):
            assert len(line) <= 75, f"line of {len(line)} octets"
            line.decode("utf-8")
        passed += 1
    except Exception as exc:  # noqa: BLE001 - report every file's failure
        failed += 1
        print(f"{path.name}: {exc}")
print(f"icalendar: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
