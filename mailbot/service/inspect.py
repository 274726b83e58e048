"""Read-only views for the Secretariat: messages, incidents, outbox, obligations, cycles.

The inspection commands (``mailbot messages|incidents|outbox|obligations|cycle``)
call these functions; each returns plain dictionaries, ready to print as a
table or as JSON, so that "why did this message go there?" always has an
answer: the rules that matched, the outcome and its reason, the incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailbot.domain.obligations import ObligationPolicy, next_action_at, would_send
from mailbot.service.app import App
from mailbot.store import cycle_rows, obligation_rows, repo
from mailbot.store.tables import InboundMessage, Incident, OutboxMessage


def _iso(value: Any) -> Any:
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else (
        value.isoformat() if hasattr(value, "isoformat") else value)


def message_row(m: InboundMessage, incident: str | None = None) -> dict[str, Any]:
    return {
        "id": m.id, "received_at": _iso(m.received_at), "from": m.from_addr,
        "subject": m.subject, "message_id": m.message_key, "class": m.classification,
        "rules": list(m.rules or []), "status": m.status, "folder": m.folder,
        "reason": m.reason, "incident": incident, "state": m.state_code, "size": m.size,
    }


def _reference(session: Any, incident_id: int | None) -> str | None:
    if incident_id is None:
        return None
    inc = session.get(Incident, incident_id)
    return inc.reference if inc else None


def list_messages(app: App, status: str | None, limit: int) -> list[dict[str, Any]]:
    with app.sessions() as session:
        return [message_row(m, _reference(session, m.incident_id))
                for m in repo.list_messages(session, status, limit)]


def show_message(app: App, message_id: int) -> dict[str, Any]:
    with app.sessions() as session:
        m = session.get(InboundMessage, message_id)
        if m is None:
            raise LookupError(f"no message with id {message_id}")
        out = message_row(m, _reference(session, m.incident_id))
        out.update({
            "notes": list(m.notes or []), "error": m.error, "content_hash": m.content_hash,
            "blob": str(app.blobs.path_for(m.content_hash)), "attempts": m.attempts,
            "duplicate_of": m.duplicate_of_id, "in_reply_to": m.in_reply_to,
            "locations": [{"mailbox": loc.mailbox, "uidvalidity": loc.uidvalidity,
                           "uid": loc.uid, "seen_at": _iso(loc.seen_at)} for loc in m.locations],
            "attachments": [{"name": a.safe_name, "type": a.content_type, "size": a.size,
                             "sha256": a.sha256, "verdict": a.verdict} for a in m.attachments],
        })
        return out


def outbox_row(o: OutboxMessage) -> dict[str, Any]:
    return {
        "id": o.id, "key": o.key, "kind": o.kind, "status": o.status, "to": list(o.recipients),
        "subject": o.subject, "attempts": o.attempts, "next_attempt_at": _iso(o.next_attempt_at),
        "sent_at": _iso(o.sent_at), "error": o.last_error, "message_id": o.message_id,
        "state": o.state_code,
        "recipients": {r.address: r.status for r in o.results},
    }


def list_outbox(app: App, status: str | None, limit: int) -> list[dict[str, Any]]:
    with app.sessions() as session:
        return [outbox_row(o) for o in repo.list_outbox(session, status, limit)]


def incident_row(i: Incident) -> dict[str, Any]:
    return {
        "reference": i.reference, "status": i.status, "occurred_on": _iso(i.occurred_on),
        "place": i.place, "created_at": _iso(i.created_at),
        "parties": [{"role": p.role, "state": p.state_code, "organization": p.organization}
                    for p in i.parties],
    }


def list_incidents(app: App, limit: int) -> list[dict[str, Any]]:
    with app.sessions() as session:
        return [incident_row(i) for i in repo.list_incidents(session, limit)]


def show_incident(app: App, reference: str) -> dict[str, Any]:
    with app.sessions() as session:
        inc = repo.incident_by_reference(session, reference)
        if inc is None:
            raise LookupError(f"no incident {reference}")
        out = incident_row(inc)
        same = session.get(Incident, inc.possibly_same_as_id) if inc.possibly_same_as_id else None
        out["possibly_same_as"] = same.reference if same else None
        out["summary"] = inc.summary
        out["submissions"] = [{
            "id": s.id, "kind": s.kind, "state": s.state_code, "status": s.status,
            "circulation": s.circulation, "received_at": _iso(s.received_at),
            "message": s.message_id, "hold_reason": s.hold_reason, "fields": s.fields,
        } for s in repo.incident_submissions(session, inc.id)]
        out["history"] = [message_row(m, inc.reference) for m in
                          repo.incident_messages(session, inc.id)]
        out["attachments"] = [
            {"message": m.id, "name": a.safe_name, "type": a.content_type, "size": a.size,
             "sha256": a.sha256, "verdict": a.verdict}
            for m in repo.incident_messages(session, inc.id) for a in m.attachments]
        out["obligations"] = [{
            "id": o.id, "state": o.state_code, "paragraph": o.paragraph, "role": o.role,
            "status": o.status, "due_at": _iso(o.due_at), "reminders_sent": o.reminders_sent,
        } for o in obligation_rows.obligation_views(session, inc.id)]
        out["outbox"] = [{"kind": o.kind, "status": o.status, "to": list(o.recipients),
                          "state": o.state_code, "sent_at": _iso(o.sent_at)}
                         for o in repo.incident_outbox(session, inc.id)]
        return out


def list_obligations(app: App, overdue_only: bool, at: datetime) -> list[dict[str, Any]]:
    policy = ObligationPolicy.from_settings(app.settings.policy)
    with app.sessions() as session:
        rows = obligation_rows.all_obligations(session)
        views = [obligation_rows.view_of(o, ref) for o, ref in rows]
        planned = {v.id: a for v, a in would_send([v for v in views if v.status == "open"], at, policy)}
        out = []
        for v in views:
            if overdue_only and not (v.status == "open" and v.due_at <= at):
                continue
            action = planned.get(v.id)
            nxt = next_action_at(v, policy)
            out.append({
                "id": v.id, "incident": v.incident_reference, "state": v.state_code,
                "paragraph": v.paragraph, "role": v.role, "status": v.status,
                "due_at": _iso(v.due_at), "overdue": v.status == "open" and v.due_at <= at,
                "reminders_sent": v.reminders_sent, "next_action_at": _iso(nxt),
                "would_send": (action.key if action else None),
            })
        return out


def list_cycles(app: App) -> list[dict[str, Any]]:
    with app.sessions() as session:
        out = []
        for c in cycle_rows.list_cycles(session):
            out.append({"session": c.session, "status": c.status, "opened_at": _iso(c.opened_at),
                        "deadline": _iso(c.deadline), "circular_sent_at": _iso(c.circular_sent_at)})
        return out


def show_cycle(app: App, number: int) -> dict[str, Any]:
    with app.sessions() as session:
        c = cycle_rows.cycle_by_session(session, number)
        if c is None:
            raise LookupError(f"no cycle for session {number}")
        subs = {f"{kind}{' (late)' if late else ''}": n
                for (kind, late), n in cycle_rows.cycle_submission_counts(session, c.id).items()}
        return {"session": c.session, "status": c.status, "opened_at": _iso(c.opened_at),
                "deadline": _iso(c.deadline),
                "circular_notes": cycle_rows.circular_count(session, number), "submissions": subs}
