"""gunicorn settings; every value can be overridden with GUNICORN_CMD_ARGS or flags."""

import os

bind = os.environ.get("CASEOPS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CASEOPS_WORKERS", "2"))
# Event streams (/api/v1/me/events, docs/events.md) hold a thread each for minutes: each
# worker gets CASEOPS_EVENT_STREAMS threads for them on top of CASEOPS_THREADS for ordinary
# requests, and refuses a stream beyond that (503), so streams never starve requests.
threads = int(os.environ.get("CASEOPS_THREADS", "4")) + int(
    os.environ.get("CASEOPS_EVENT_STREAMS", "200")
)
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
# Each access log line carries the request id that caseops also writes to its own log.
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s rid=%({x-request-id}o)s'
errorlog = "-"
forwarded_allow_ips = os.environ.get("CASEOPS_FORWARDED_ALLOW_IPS", "127.0.0.1")
control_socket_disable = True  # several instances per user (tests, make run) must not share one
# gunicorn refuses a request line over limit_request_line and headers over
# limit_request_field_size before caseops sees them. The line limit is at gunicorn's
# maximum (8190), so URLs between 4 KiB and 8 KiB reach caseops and get its JSON 414
# (caseops/http_limits.py); what gunicorn still refuses itself is answered in the same
# JSON error shape by the writer below, not with gunicorn's HTML page.
limit_request_line = 8190
limit_request_field_size = 8190


# Prometheus multiprocess mode (caseops/metrics.py): each worker keeps its counters in
# files under PROMETHEUS_MULTIPROC_DIR and a scrape adds them up. Set before anything
# imports prometheus_client (caseops does, below: _json_error_writer imports caseops);
# emptied at start so a restart does not count old workers twice.
def _prometheus_multiprocess_dir() -> None:
    import glob
    import tempfile

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="caseops-metrics-")
        os.environ["CASEOPS_METRICS_DIR_CREATED"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        return
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.unlink(stale)


_prometheus_multiprocess_dir()


def _json_error_writer():
    """gunicorn's ``util.write_error`` with caseops' error body (the workers call it for
    a malformed or oversized request, and for a crash before the app could answer)."""
    import json

    from gunicorn import util

    from caseops.errors import HTTP_CODES

    def write_error(sock, status_int, reason, mesg):
        body = json.dumps(
            {
                "error": {
                    "code": HTTP_CODES.get(status_int, "error"),
                    "message": reason,
                    "details": {},
                }
            }
        ).encode()
        head = (
            f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        util.write_nonblock(sock, head.encode("latin-1") + body)

    util.write_error = write_error


_json_error_writer()


def post_worker_init(worker):
    """In each worker after the fork: the event hub and the client.updated notifier, then
    the start-up heap frozen out of the garbage collector's full scans
    (``caseops/worker_process.py`` says why)."""
    from caseops.events.server import start
    from caseops.worker_process import settle_heap

    start(worker.wsgi)
    settle_heap(worker.wsgi)


def child_exit(server, worker):
    """A dead worker's live gauges leave the scrape (its counters stay summed)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory gunicorn created for itself (not one it was given)."""
    import shutil

    created = os.environ.get("CASEOPS_METRICS_DIR_CREATED")
    if created and created == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(created, ignore_errors=True)
