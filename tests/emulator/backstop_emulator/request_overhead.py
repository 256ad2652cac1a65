"""moto server's per-request costs that grow with load, where AWS's do not.

At 3,000 restores the emulator serves tens of thousands of calls while its scheduler
completes jobs on the same interpreter lock. Profiled there (py-spy), a third of its time went
to work that is the same for every request and changes nothing an answer says:
- finding the backend for a request's host: moto lists its package directory and tries every
  service's URL patterns, for each request, holding one lock that every request takes;
- finding a response class's methods: moto inspects the class for each request;
- writing (and flushing) one access-log line per request;
- finding a service's backend for an account: moto takes one process-wide lock for every
  lookup (each request makes two or more), though it creates a backend only once. With a
  thousand Lambda invocations in flight (one per restore job's end) threads queued on that
  lock, and a 10 ms S3 GetObject took 15 s.
With these, the emulator completed jobs up to a minute after their simulated end, so the
benchmark's critical path (the slowest restore as the emulator recorded it) grew with the
load. The answers are unchanged; only the lookups are remembered, and the access log keeps the
calls that failed.
"""

from __future__ import annotations

import threading
from typing import Any


def install() -> None:
    from moto.core import responses as moto_responses
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.serving import WSGIRequestHandler

    # a host's backend: moto's answer depends only on the host and its static URL patterns
    find_backend = DomainDispatcherApplication.get_backend_for_host
    backends: dict[Any, Any] = {}

    def get_backend_for_host(self, host):  # type: ignore[no-untyped-def]
        if host not in backends:
            backends[host] = find_backend(self, host)
        return backends[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host

    # a class's method names, until a method is added to it or a base (the emulator adds its
    # operations at start; the count of each class's attributes tells a later change)
    list_methods = moto_responses.method_names_from_class
    methods: dict[tuple[Any, ...], list[str]] = {}
    lock = threading.Lock()

    def method_names_from_class(clazz):  # type: ignore[no-untyped-def]
        key = (clazz, tuple(len(base.__dict__) for base in clazz.__mro__))
        with lock:
            found = methods.get(key)
        if found is None:
            found = list_methods(clazz)
            with lock:
                methods[key] = found
        return found

    moto_responses.method_names_from_class = method_names_from_class

    # the access log: calls that failed (what a reader of the log looks for)
    log_request = WSGIRequestHandler.log_request

    def log_failed_request(self, code="-", size="-"):  # type: ignore[no-untyped-def]
        status = str(getattr(code, "value", code))
        if status.isdigit() and int(status) < 400:
            return
        log_request(self, code, size)

    WSGIRequestHandler.log_request = log_failed_request

    # an account's backend: created under moto's lock once, then found without it while its
    # dict is registered for the next reset. A key alone is not enough: a backend's reset can
    # look up another service's backend (re-creating its key) before the reset unregisters
    # every dict, and that dict must register again or the next reset would not empty it.
    from moto.core import base_backend

    create = base_backend.BackendDict._create_account_specific_backend
    registered = base_backend.BackendDict._instances

    def create_account_specific_backend(self, account_id):  # type: ignore[no-untyped-def]
        if account_id not in self or not any(other is self for other in registered):
            create(self, account_id)

    base_backend.BackendDict._create_account_specific_backend = create_account_specific_backend
