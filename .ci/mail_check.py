"""Email against a real SMTP server: starts aiosmtpd, two Cascade replicas on one fresh
PostgreSQL database sending through it, drives bookings through the API (alternating replicas),
then parses what arrived with Python's `email` and `icalendar`:

- every message arrives exactly once (two replicas, one lease per message);
- each kind carries the right iMIP METHOD, the UIDs the API's calendars use, and a SEQUENCE
  that rises: confirmed (REQUEST) < session changed (REQUEST) < session cancelled (CANCEL);
- the person's name arrives exactly as recorded.

usage: python3 .ci/mail_check.py <cascade binary> <postgres admin url>
"""

import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import date, timedelta

import icalendar
from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(base, key, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{base}/api/v1{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode()
        return json.loads(text) if text else None


def main():
    binary, admin_url = sys.argv[1], sys.argv[2]
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    name = f"cascade_mail_{uuid.uuid4().hex}"
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {name}"], check=True)
    db = admin_url.rsplit("/", 1)[0] + f"/{name}"
    work = tempfile.mkdtemp()
    env = dict(os.environ, CASCADE_DATABASE_URL=db, CASCADE_LOG="warn")
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
    key = subprocess.run(
        [binary, "keys", "create", "--role", "admin", "--name", "mail check"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    replicas, bases = [], []
    try:
        for i in range(2):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            log = open(os.path.join(work, f"replica{i}.log"), "w")
            replicas.append(subprocess.Popen(
                [binary, "serve", "--bind", f"127.0.0.1:{port}", "--public-url", base,
                 "--smtp-url", f"smtp://127.0.0.1:{smtp_port}",
                 "--mail-from", "Workforce training <training@example.org>"],
                env=env, stdout=log, stderr=log,
            ))
            bases.append(base)
        for base in bases:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/readyz", timeout=2)
                    break
                except OSError:
                    time.sleep(0.2)
        a, b = bases
        org = call(a, key, "POST", "/organisations", {"name": "Wiltshire Council", "sector": "council"})["id"]
        people = {}
        for who, mail in [("Siân Ó Briain-Łukasz", "sian@example.org"), ("Priya Sharma", "priya@example.org")]:
            people[mail] = call(b, key, "POST", "/people", {
                "name": who, "email": mail,
                "memberships": [{"organisation_id": org, "external_id": mail.split("@")[0]}],
            })["id"]
        programme = call(a, key, "POST", "/programmes", {"code": "ftt", "name": "Five to Thrive"})["id"]
        course = call(b, key, "POST", "/courses", {
            "programme_id": programme, "code": "ftt-champion", "title": "Five to Thrive champion",
            "kind": "champion", "duration_minutes": 360, "cpd_hours": 6, "default_capacity": 1,
        })["id"]
        day = (date.today() + timedelta(days=30)).isoformat()
        session = call(a, key, "POST", "/sessions", {
            "course_id": course, "capacity": 1, "venue": {"name": "Corn Exchange, Devizes"},
            "sittings": [{"date": day, "start": "09:30", "end": "16:00"}],
        })["id"]
        def arrived(to, kind):
            """Waits, as a person would, until the message about the last change has come
            (a message whose news is already out of date when it is sent is skipped)."""
            deadline = time.time() + 30
            while time.time() < deadline:
                if any(m["To"].addresses[0].addr_spec == to and str(m["X-Cascade-Message"]) == kind
                       for m in inbox.messages):
                    return
                time.sleep(0.2)
            raise AssertionError(f"no {kind} message reached {to}")

        first = call(a, key, "POST", f"/sessions/{session}/bookings", {"person_id": people["sian@example.org"]})
        second = call(b, key, "POST", f"/sessions/{session}/bookings", {"person_id": people["priya@example.org"]})
        assert first["status"] == "confirmed" and second["status"] == "waitlisted", (first, second)
        arrived("sian@example.org", "booking_confirmed")
        arrived("priya@example.org", "booking_waitlisted")
        call(b, key, "POST", f"/bookings/{first['id']}/cancel", {"reason": "cannot come"})
        arrived("priya@example.org", "booking_promoted")
        moved = (date.today() + timedelta(days=31)).isoformat()
        call(a, key, "PATCH", f"/sessions/{session}", {"sittings": [{"date": moved, "start": "10:00", "end": "15:00"}]})
        arrived("priya@example.org", "session_changed")
        call(b, key, "POST", f"/sessions/{session}/cancel", {"reason": "The trainer is ill."})

        expected = {
            ("sian@example.org", "booking_confirmed"), ("sian@example.org", "booking_cancelled"),
            ("priya@example.org", "booking_waitlisted"), ("priya@example.org", "booking_promoted"),
            ("priya@example.org", "session_changed"), ("priya@example.org", "session_cancelled"),
        }
        deadline = time.time() + 60
        while time.time() < deadline and len(inbox.messages) < len(expected):
            time.sleep(0.5)
        time.sleep(8)  # both replicas' workers run again: nothing more may arrive
        got = Counter((m["To"].addresses[0].addr_spec, str(m["X-Cascade-Message"])) for m in inbox.messages)
        ids = Counter(str(m["Message-ID"]) for m in inbox.messages)
        print(f"received {len(inbox.messages)} messages: " + ", ".join(f"{k[1]}→{k[0]}" for k in sorted(got)))
        assert set(got) == expected, f"kinds: {sorted(got)}"
        assert all(n == 1 for n in got.values()), f"sent more than once: {got}"
        assert all(n == 1 for n in ids.values()), f"a Message-ID twice: {ids}"

        def part(kind, to):
            m = next(m for m in inbox.messages
                     if str(m["X-Cascade-Message"]) == kind and m["To"].addresses[0].addr_spec == to)
            cal = next((p for p in m.walk() if p.get_content_type() == "text/calendar"), None)
            return m, cal

        uid = f"session-{session}-sitting-1@cascade"

        def event(cal, method):
            assert cal is not None, "no text/calendar part"
            assert cal.get_param("method") == method, cal.get_param("method")
            parsed = icalendar.Calendar.from_ical(cal.get_content())
            assert str(parsed["METHOD"]) == method
            ev = next(iter(parsed.walk("VEVENT")))
            assert str(ev["UID"]) == uid, str(ev["UID"])
            return int(ev["SEQUENCE"])

        m, cal = part("booking_confirmed", "sian@example.org")
        assert m["To"].addresses[0].display_name == "Siân Ó Briain-Łukasz", m["To"]
        assert "Siân Ó Briain-Łukasz" in m.get_body(("plain",)).get_content()
        confirmed = event(cal, "REQUEST")
        cancelled = event(part("booking_cancelled", "sian@example.org")[1], "CANCEL")
        assert cancelled > confirmed, (confirmed, cancelled)
        assert part("booking_waitlisted", "priya@example.org")[1] is None
        promoted = event(part("booking_promoted", "priya@example.org")[1], "REQUEST")
        changed = event(part("session_changed", "priya@example.org")[1], "REQUEST")
        ended = event(part("session_cancelled", "priya@example.org")[1], "CANCEL")
        assert promoted < changed < ended, (promoted, changed, ended)
        print(f"SEQUENCE: confirmed {confirmed} < cancelled {cancelled}; promoted {promoted} < changed {changed} < cancelled {ended}")
        print("mail: every message once, METHOD/UID/SEQUENCE as the calendars say, names as recorded")
    finally:
        for r in replicas:
            r.terminate()
        for r in replicas:
            r.wait(timeout=20)
        controller.stop()
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


if __name__ == "__main__":
    main()
