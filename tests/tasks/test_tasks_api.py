"""Tasks through the API (issue 18): agency isolation, assignment and status rules,
overdue, logging, encryption at rest and the append-only history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from caseops.extensions import db
from caseops.tasks import service as tasks_service
from tests import factories
from tests.fixtures.consents import source_consent
from tests.fixtures.notes import (
    call,
    create_task,
    my_tasks,
    task_assign,
    task_created,
    task_status,
)
from tests.fixtures.referrals import accepted_referral, refer, referral_id_of

TITLE = "Call Maria about the Shelter C intake"
UNKNOWN = "tsk_00000000000000000000"


def _message(response, task_id: str) -> str:
    return response.get_json()["error"]["message"].replace(task_id, "<id>")


def test_create_and_list_my_tasks(client, maria_for_notes):
    due = (date.today() + timedelta(days=3)).isoformat()
    response = create_task(client, "hha.case_worker", maria_for_notes, TITLE, due_on=due)
    assert response.status_code == 201, response.get_json()
    task = response.get_json()
    assert task["status"] == "open" and task["assignee"] == "hha.case_worker"
    assert task["title"] == TITLE and task["due_on"] == due and task["overdue"] is False
    assert task["agency"] == "hha"
    mine = my_tasks(client, "hha.case_worker")
    assert mine.status_code == 200
    assert [t["id"] for t in mine.get_json()] == [task["id"]]
    entry = factories.events("task.created")[-1]
    assert entry.client_id == maria_for_notes and entry.target_id == task["id"]
    assert TITLE not in str(entry.detail)  # titles never enter the log
    assert factories.events("task.list")[-1].detail["task_ids"] == [task["id"]]


def test_a_task_title_is_encrypted_at_rest(app, client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes, TITLE)
    cancelled = task_status(client, "hha.case_worker", task_id, "cancelled", "Maria moved away")
    assert cancelled.status_code == 200
    with app.app_context():
        stored = " ".join(
            str(value)
            for table in ("tasks", "task_moves")
            for row in db.session.execute(text(f"SELECT * FROM {table}"))
            for value in row
        )
    assert "Shelter" not in stored and "moved away" not in stored


def test_the_tables_are_append_only_and_moves_numbered(app, client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes)
    with app.app_context():
        for statement in (
            "UPDATE tasks SET agency_code = 'cchc'",
            "DELETE FROM tasks",
            "UPDATE task_moves SET status = 'done'",
            "DELETE FROM task_moves",
        ):
            with pytest.raises(DBAPIError):
                db.session.execute(text(statement))
            db.session.rollback()
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(
                    "INSERT INTO task_moves (task_id, seq, status, by_user, by_agency, at) "
                    "VALUES (:t, 1, 'done', 'x', 'hha', CURRENT_TIMESTAMP)"
                ),
                {"t": task_id},
            )
        db.session.rollback()
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(
                    "INSERT INTO task_moves (task_id, seq, status, by_user, by_agency, at) "
                    "VALUES (:t, 2, 'lost', 'x', 'hha', CURRENT_TIMESTAMP)"
                ),
                {"t": task_id},
            )
        db.session.rollback()


@pytest.mark.parametrize("username", ["cchc.case_worker", "cchc.supervisor", "rrp.case_worker"])
def test_another_agencys_task_is_unknown(client, maria_for_notes, username):
    task_id = task_created(client, "hha.case_worker", maria_for_notes, TITLE)
    for response, unknown in (
        (
            task_status(client, username, task_id, "done"),
            task_status(client, username, UNKNOWN, "done"),
        ),
        (
            task_assign(client, username, task_id, username),
            task_assign(client, username, UNKNOWN, username),
        ),
    ):
        assert response.status_code == unknown.status_code == 404
        assert _message(response, task_id) == _message(unknown, UNKNOWN)
    listed = call(client, "GET", f"/api/v1/clients/{maria_for_notes}/tasks", username)
    assert listed.status_code == 200 and listed.get_json() == []
    assert my_tasks(client, username).get_json() == []


@pytest.mark.parametrize("username", ["hha.consent_officer", "hha.agency_admin"])
def test_the_agencys_non_workers_do_not_know_its_tasks(client, maria_for_notes, username):
    task_id = task_created(client, "hha.case_worker", maria_for_notes, TITLE)
    assert task_status(client, username, task_id, "done").status_code == 404
    assert my_tasks(client, username).get_json() == []


def test_the_agencys_workers_see_the_clients_tasks(client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes, TITLE)
    task_created(client, "cchc.supervisor", maria_for_notes, "cchc's own task")
    listed = call(client, "GET", f"/api/v1/clients/{maria_for_notes}/tasks", "hha.supervisor")
    assert [t["id"] for t in listed.get_json()] == [task_id]
    assert "cchc's own task" not in listed.get_data(as_text=True)


def test_assignee_must_be_an_active_worker_of_the_callers_agency(client, maria_for_notes):
    factories.make_user("hha.gone", "hha", ["case_worker"])
    deactivate = call(client, "POST", "/api/v1/users/hha.gone/deactivate", "hha.agency_admin")
    assert deactivate.status_code == 200, deactivate.get_json()
    for assignee in ("cchc.case_worker", "hha.consent_officer", "hha.gone", "nobody.atall"):
        response = create_task(client, "hha.case_worker", maria_for_notes, assignee=assignee)
        assert response.status_code == 422, (assignee, response.get_json())
        assert response.get_json()["error"]["details"] == {
            "assignee": ["No active case worker or supervisor of your agency by that name."]
        }
    assert factories.events("task.created") == []


def test_creating_needs_a_relationship(client, maria_for_notes):
    refused = create_task(client, "cchc.case_worker", maria_for_notes)
    assert refused.status_code == 403
    assert factories.events("task.create")[-1].detail["reason"] == "no_relationship"
    assert create_task(client, "hha.consent_officer", maria_for_notes).status_code == 403
    unknown = create_task(client, "hha.case_worker", "f00dfacef00dfacef00dfacef00dface")
    assert unknown.status_code == 404


def test_a_supervisor_may_create_for_a_colleague_who_works_with_the_client(client, maria_for_notes):
    # hha.supervisor is not on the care team; hha.case_worker is
    response = create_task(
        client, "hha.supervisor", maria_for_notes, TITLE, assignee="hha.case_worker"
    )
    assert response.status_code == 201, response.get_json()
    assert [t["title"] for t in my_tasks(client, "hha.case_worker").get_json()] == [TITLE]
    alone = create_task(client, "hha.supervisor", maria_for_notes, TITLE)
    assert alone.status_code == 403


def test_a_task_on_a_referral_of_the_agency(client, maria_for_notes):
    source_consent(client, maria_for_notes)
    referral_id = accepted_referral(client, maria_for_notes)
    ours = create_task(client, "hha.case_worker", maria_for_notes, referral_id=referral_id)
    assert ours.status_code == 201 and ours.get_json()["referral_id"] == referral_id
    theirs = create_task(client, "cchc.case_worker", maria_for_notes, referral_id=referral_id)
    assert theirs.status_code == 201, theirs.get_json()  # the recipient side, once sent


def test_a_task_cannot_name_another_agencys_referral(client, maria_for_notes):
    source_consent(client, maria_for_notes)
    draft = referral_id_of(refer(client, maria_for_notes, send=False))
    # a draft is the sender's alone: the recipient may not link it, as with any unknown id
    for referral_id in (draft, "ref_00000000000000000000"):
        response = create_task(client, "cchc.supervisor", maria_for_notes, referral_id=referral_id)
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["error"]["details"] == {
            "referral_id": ["No referral of your agency for this client by that id."]
        }


def test_status_rules(client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes)
    missing = task_status(client, "hha.case_worker", task_id, "cancelled")
    assert missing.status_code == 422 and "note" in missing.get_json()["error"]["details"]
    reopen = call(
        client,
        "POST",
        f"/api/v1/tasks/{task_id}/status",
        "hha.case_worker",
        json={"status": "open"},
    )
    assert reopen.status_code == 422  # the schema names the statuses one may ask for
    done = task_status(client, "hha.case_worker", task_id, "done", "Called her")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "done" and done.get_json()["note"] == "Called her"
    again = task_status(client, "hha.case_worker", task_id, "cancelled", "Changed my mind")
    assert again.status_code == 409
    assert task_assign(client, "hha.case_worker", task_id, "hha.supervisor").status_code == 409
    moved = factories.events("task.moved")
    assert [(e.detail["from"], e.detail["to"]) for e in moved] == [("open", "done")]
    assert my_tasks(client, "hha.case_worker").get_json() == []
    assert [t["id"] for t in my_tasks(client, "hha.case_worker", status="done").get_json()] == [
        task_id
    ]


def test_who_changes_a_task(client, maria_for_notes):
    factories.make_user("hha.colleague", "hha", ["case_worker"])
    task_id = task_created(client, "hha.case_worker", maria_for_notes)
    refused = task_status(client, "hha.colleague", task_id, "done")
    assert refused.status_code == 403
    assert factories.events("task.move")[-1].outcome == "denied"
    assert task_assign(client, "hha.colleague", task_id, "hha.colleague").status_code == 403
    handed = task_assign(client, "hha.case_worker", task_id, "hha.colleague")
    assert handed.status_code == 200 and handed.get_json()["assignee"] == "hha.colleague"
    # the new assignee may now finish it; the creator still may too
    assert task_status(client, "hha.colleague", task_id, "done").status_code == 200


def test_a_supervisor_reassigns_and_the_assignee_hears_of_it(app, client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes)
    response = task_assign(client, "hha.supervisor", task_id, "hha.supervisor")
    assert response.status_code == 200
    response = task_assign(client, "hha.supervisor", task_id, "hha.case_worker")
    assert response.status_code == 200
    logged = factories.events("task.assigned")
    assert [(e.detail["from"], e.detail["to"]) for e in logged] == [
        ("hha.case_worker", "hha.supervisor"),
        ("hha.supervisor", "hha.case_worker"),
    ]
    with app.app_context():
        rows = db.session.execute(
            text("SELECT kind, data FROM notifications WHERE kind = 'task.assigned'")
        ).all()
    # announced to the new assignee, never to one who assigns to themself; ids only
    assert len(rows) == 1
    data = rows[0][1] if isinstance(rows[0][1], dict) else json.loads(rows[0][1])
    assert set(data) == {"task_id", "client_id"} and data["task_id"] == task_id


def test_reassigning_to_the_current_assignee_changes_nothing(client, maria_for_notes):
    task_id = task_created(client, "hha.case_worker", maria_for_notes)
    same = task_assign(client, "hha.case_worker", task_id, "hha.case_worker")
    assert same.status_code == 200
    assert factories.events("task.assigned") == []


def test_overdue_is_open_and_past_due_in_the_deployments_date(
    app, client, maria_for_notes, monkeypatch
):
    # an instant ahead of the care team's start, at 11:00 UTC: already tomorrow at UTC+14
    instant = datetime.combine(
        date.today() + timedelta(days=10), datetime.min.time(), tzinfo=UTC
    ) + timedelta(hours=11)
    monkeypatch.setattr(tasks_service, "utcnow", lambda: instant)
    due = instant.date().isoformat()
    task_id = task_created(client, "hha.case_worker", maria_for_notes, due_on=due)
    before = create_task(
        client,
        "hha.case_worker",
        maria_for_notes,
        due_on=(instant.date() - timedelta(days=1)).isoformat(),
    )
    assert before.status_code == 422 and "due_on" in before.get_json()["error"]["details"]

    def overdue() -> bool:
        (task,) = my_tasks(client, "hha.case_worker").get_json()
        assert task["id"] == task_id
        return task["overdue"]

    assert overdue() is False  # due today (UTC) is not overdue
    app.config["CASEOPS_TIME_ZONE"] = "Pacific/Kiritimati"
    assert overdue() is True  # where the agency works, today is already the day after
    app.config["CASEOPS_TIME_ZONE"] = "America/Los_Angeles"
    assert overdue() is False
    monkeypatch.setattr(tasks_service, "utcnow", lambda: instant + timedelta(days=2))
    assert overdue() is True
    assert task_status(client, "hha.case_worker", task_id, "done").status_code == 200
    (done,) = my_tasks(client, "hha.case_worker", status="done").get_json()
    assert done["overdue"] is False  # only open tasks are overdue


def _hha_worker():
    from caseops.authz.actor import Actor
    from caseops.users.models import User

    user = db.session.scalar(db.select(User).where(User.username == "hha.case_worker"))
    return Actor(
        username=user.username, user_id=user.id, agency="hha", roles=frozenset({"case_worker"})
    )


def test_the_caseload_counts_only_the_agencys_open_tasks(app, client, maria_for_notes):
    task_created(client, "hha.case_worker", maria_for_notes)
    finished = task_created(client, "hha.case_worker", maria_for_notes)
    task_status(client, "hha.case_worker", finished, "done")
    task_created(client, "cchc.supervisor", maria_for_notes)
    with app.app_context():
        actor = _hha_worker()
        assert tasks_service.open_tasks_by_client(actor, [maria_for_notes]) == {maria_for_notes: 1}
        assert (
            tasks_service.open_tasks_by_client(actor, [maria_for_notes], assignee="hha.supervisor")
            == {}
        )


def test_a_supervisor_reads_a_colleagues_tasks_a_worker_does_not(client, maria_for_notes):
    task_created(client, "hha.case_worker", maria_for_notes, TITLE)
    theirs = my_tasks(client, "hha.supervisor", worker="hha.case_worker")
    assert [t["title"] for t in theirs.get_json()] == [TITLE]
    refused = my_tasks(client, "cchc.case_worker", worker="hha.case_worker")
    assert refused.status_code == 403
    other = my_tasks(client, "cchc.supervisor", worker="hha.case_worker")
    assert other.status_code == 422  # users are hidden across agencies: as no such user
