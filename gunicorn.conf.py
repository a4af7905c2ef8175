"""gunicorn settings; every value can be overridden with GUNICORN_CMD_ARGS or flags."""

import os

bind = os.environ.get("CASEOPS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CASEOPS_WORKERS", "2"))
threads = int(os.environ.get("CASEOPS_THREADS", "4"))
worker_class = "gthread"
timeout = 30
graceful_timeout = 20
# Each access log line carries the request id that caseops also writes to its own log.
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s rid=%({x-request-id}o)s'
errorlog = "-"
forwarded_allow_ips = os.environ.get("CASEOPS_FORWARDED_ALLOW_IPS", "127.0.0.1")
control_socket_disable = True  # several instances per user (tests, make run) must not share one
