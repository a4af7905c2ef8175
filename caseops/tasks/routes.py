"""/api/v1 tasks: one line per handler."""

from __future__ import annotations

from caseops.auth.current import current_actor
from caseops.extensions import ApiBlueprint
from caseops.tasks import service
from caseops.tasks.schemas import (
    ClientTasksQuery,
    MyTasksQuery,
    TaskAssignIn,
    TaskIn,
    TaskOut,
    TaskStatusIn,
)

blp = ApiBlueprint("tasks", __name__, url_prefix="/api/v1", description="Tasks")


@blp.post("/clients/<client_id>/tasks")
@blp.arguments(TaskIn)
@blp.response(201, TaskOut)
def create(body, client_id):
    """A task on a client you work with (care team or an open referral), for you or a
    colleague of your agency. Seen by your agency's workers only.

    Hidden clients answer 404 as unknown ids do.
    """
    return service.create(current_actor(), client_id, body)


@blp.get("/clients/<client_id>/tasks")
@blp.arguments(ClientTasksQuery, location="query")
@blp.response(200, TaskOut(many=True))
def client_tasks(query, client_id):
    """Your agency's tasks on the client (never another agency's). Hidden clients: 404."""
    return service.client_tasks(current_actor(), client_id, query["status"])


@blp.get("/me/tasks")
@blp.arguments(MyTasksQuery, location="query")
@blp.response(200, TaskOut(many=True))
def my_tasks(query):
    """The tasks assigned to you (supervisors: `worker` for a colleague's), soonest due
    first, each with `overdue`."""
    return service.my_tasks(current_actor(), **query)


@blp.post("/tasks/<task_id>/status")
@blp.arguments(TaskStatusIn)
@blp.response(200, TaskOut)
def change_status(body, task_id):
    """Done, or cancelled with a note: 409 for a finished task; another agency's task
    answers 404 as an unknown id."""
    return service.change_status(current_actor(), task_id, body["status"], body["note"])


@blp.post("/tasks/<task_id>/assign")
@blp.arguments(TaskAssignIn)
@blp.response(200, TaskOut)
def assign(body, task_id):
    """Hand an open task to a case worker or supervisor of your agency."""
    return service.assign(current_actor(), task_id, body["username"])
