"""A loopback Kubernetes API stand-in that records every request and answers like a cluster.

Enough of the API for the official cncf-kubernetes operators our DAGs use (the Job operator,
the SparkApplication operator, and the pod operator underneath both) to run to success:

* ``POST .../jobs`` stores the Job and creates its pod (``<job>-<5 chars>``, labels
  ``job-name``/``batch.kubernetes.io/job-name``/``controller-uid``), phase ``Running``;
* ``POST .../sparkapplications`` stores the application (state ``SUBMITTED``); its first status
  read moves it to ``RUNNING`` and creates the driver pod ``<name>-driver`` (label
  ``spark-role=driver`` plus the driver labels of the spec);
* a pod's log is ``Cluster.pod_log_lines`` (by default a log event, then the job's JSON
  summary ``{"status": "ok"}``), the last ``tailLines`` of it when asked; every log read is also
  kept in ``StandIn.log_reads`` with its query (container, tailLines, follow);
* a pod finishes (``Succeeded``, container terminated with exit code 0) once its log has been
  read, or once its Job's status is read; the Job then has ``Complete``/``SuccessCriteriaMet``
  conditions and the application ``COMPLETED``;
* list calls honour ``labelSelector`` (``k=v``, ``k!=v``, ``k``, ``!k``) and ``fieldSelector``
  (``metadata.name``, ``status.phase``, ``involvedObject.name``); deletes remove the object
  (a Job's pods with it); unknown objects answer 404 with a ``Status`` body; every pod gets a
  ``Scheduled`` event.

Every request is recorded as ``{"verb", "group", "version", "resource", "subresource",
"namespace", "name"}`` with the Kubernetes verb (``get``/``list``/``watch``/``create``/
``update``/``patch``/``delete``/``deletecollection``) as the API server's authorizer sees it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

# /api/v1/... (core) or /apis/<group>/<version>/...
_PATH = re.compile(
    r"^/(?:api/(?P<core_version>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<resource>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<subresource>[^/]+))?/?$"
)
POD_LOG_LINES = ('{"event": "job_started"}', '{"status": "ok"}')
POD_LOG_SUMMARY = {"status": "ok"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:5]


@dataclass
class Request:
    verb: str
    group: str
    version: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "verb": self.verb,
            "group": self.group,
            "version": self.version,
            "resource": self.resource,
            "subresource": self.subresource,
            "namespace": self.namespace,
            "name": self.name,
        }


def parse_request(method: str, url: str) -> tuple[Request, dict[str, list[str]]] | None:
    """The authorizer's view of one request (None for non-resource paths such as /version)."""
    parsed = urlparse(url)
    m = _PATH.match(unquote(parsed.path))
    if not m:
        return None
    query = parse_qs(parsed.query)
    name = m["name"]
    watch = query.get("watch", ["false"])[0].lower() in ("true", "1")
    if method == "GET":
        verb = "get" if name else ("watch" if watch else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    req = Request(
        verb=verb,
        group=m["group"] or "",
        version=m["core_version"] or m["version"],
        resource=m["resource"],
        subresource=m["subresource"],
        namespace=m["namespace"],
        name=name,
    )
    return req, query


def _selector_terms(selector: str) -> list[str]:
    return [t.strip() for t in selector.split(",") if t.strip()] if selector else []


def label_match(labels: dict[str, str], selector: str) -> bool:
    for term in _selector_terms(selector):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def field_match(obj: dict[str, Any], selector: str) -> bool:
    for term in _selector_terms(selector):
        neg = "!=" in term
        k, v = term.split("!=" if neg else "=", 1)
        value = _field(obj, k.strip().lstrip("="))
        if (str(value) == v.strip()) == neg:
            return False
    return True


@dataclass
class Cluster:
    """The objects the stand-in holds, by (resource, namespace, name)."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    create_job_pods: bool = True  # False: a Job whose pod never appears (quota, no nodes)
    # Exit code of every Job pod's container; non-zero: the pod fails and, as with the
    # templates' podFailurePolicy (FailJob on the job CLI's codes), so does its Job.
    pod_exit_code: int = 0
    # What every pod's log holds (stdout and stderr interleaved, as the API serves them).
    pod_log_lines: tuple[str, ...] = POD_LOG_LINES

    def put(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("resourceVersion", "1")
        self.objects[(resource, meta["namespace"], meta["name"])] = obj
        return obj

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource, namespace, name))

    def items(self, resource: str, namespace: str | None) -> list[dict[str, Any]]:
        return [
            o
            for (r, ns, _), o in sorted(self.objects.items())
            if r == resource and (namespace is None or ns == namespace)
        ]

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.pop((resource, namespace, name), None)

    # --- lifecycle ------------------------------------------------------------------------
    def new_pod(
        self, namespace: str, name: str, template: dict[str, Any], labels: dict[str, str]
    ) -> dict[str, Any]:
        spec = json.loads(json.dumps(template.get("spec") or {}))
        containers = spec.get("containers") or [{"name": "base", "image": "stand-in"}]
        spec["containers"] = containers
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**(template.get("metadata", {}).get("labels") or {}), **labels},
                "annotations": template.get("metadata", {}).get("annotations") or {},
            },
            "spec": spec,
            "status": {
                "phase": "Running",
                "startTime": _now(),
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c.get("image", ""),
                        "imageID": "",
                        "ready": True,
                        "restartCount": 0,
                        "started": True,
                        "state": {"running": {"startedAt": _now()}},
                    }
                    for c in containers
                ],
            },
        }
        self.put("pods", pod)
        self.put(
            "events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{name}.scheduled", "namespace": namespace},
                "involvedObject": {"kind": "Pod", "name": name, "namespace": namespace},
                "reason": "Scheduled",
                "message": f"Successfully assigned {namespace}/{name}",
                "type": "Normal",
                "firstTimestamp": _now(),
                "lastTimestamp": _now(),
            },
        )
        return pod

    def finish_pod(self, pod: dict[str, Any]) -> None:
        status = pod["status"]
        if status["phase"] == "Succeeded":
            return
        code = self.pod_exit_code if "job-name" in pod["metadata"]["labels"] else 0
        status["phase"] = "Succeeded" if code == 0 else "Failed"
        status["conditions"] = [{"type": "Ready", "status": "False"}]
        for cs in status["containerStatuses"]:
            cs["ready"] = False
            cs["started"] = False
            cs["state"] = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": _now(),
                    "finishedAt": _now(),
                }
            }
        owner = pod["metadata"]["labels"]
        ns = pod["metadata"]["namespace"]
        if job := self.get("jobs", ns, owner.get("job-name", "")):
            self.finish_job(job)
        if owner.get("spark-role") == "driver":
            app = self.get("sparkapplications", ns, owner.get("sparkoperator.k8s.io/app-name", ""))
            if app:
                app["status"]["applicationState"] = {"state": "COMPLETED"}

    def finish_job(self, job: dict[str, Any]) -> None:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        for pod in self.items("pods", ns):
            if pod["metadata"]["labels"].get("job-name") == name:
                self.finish_pod(pod)
        if job["status"].get("succeeded") or job["status"].get("failed"):
            return
        t = _now()
        if self.pod_exit_code:
            job["status"] = {
                "startTime": job["status"].get("startTime", t),
                "failed": 1,
                "active": 0,
                "conditions": [
                    {
                        "type": kind,
                        "status": "True",
                        "reason": "PodFailurePolicy",
                        "lastTransitionTime": t,
                        "lastProbeTime": t,
                    }
                    for kind in ("FailureTarget", "Failed")
                ],
            }
            return
        job["status"] = {
            "startTime": job["status"].get("startTime", t),
            "completionTime": t,
            "succeeded": 1,
            "active": 0,
            "conditions": [
                {"type": kind, "status": "True", "lastTransitionTime": t, "lastProbeTime": t}
                for kind in ("SuccessCriteriaMet", "Complete")
            ],
        }

    def create_job(self, namespace: str, job: dict[str, Any]) -> dict[str, Any]:
        job = self.put("jobs", job)
        name, uid = job["metadata"]["name"], job["metadata"]["uid"]
        job["status"] = {"startTime": _now(), "active": 1}
        labels = {
            "job-name": name,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "batch.kubernetes.io/controller-uid": uid,
        }
        if self.create_job_pods:
            self.new_pod(namespace, f"{name}-{_suffix(name)}", job["spec"]["template"], labels)
        return job

    def create_spark_application(self, app: dict[str, Any]) -> dict[str, Any]:
        app = self.put("sparkapplications", app)
        app["status"] = {"applicationState": {"state": "SUBMITTED"}}
        return app

    def advance_spark_application(self, app: dict[str, Any]) -> None:
        state = app["status"]["applicationState"]
        if state["state"] != "SUBMITTED":
            return
        meta, spec = app["metadata"], app.get("spec", {})
        driver = spec.get("driver", {})
        template = {
            "metadata": {"labels": driver.get("labels") or {}},
            "spec": {
                "serviceAccountName": driver.get("serviceAccount", "default"),
                "containers": [{"name": "spark-kubernetes-driver", "image": spec.get("image", "")}],
            },
        }
        labels = {
            "spark-role": "driver",
            "sparkoperator.k8s.io/app-name": meta["name"],
            "sparkoperator.k8s.io/launched-by-spark-operator": "true",
        }
        self.new_pod(meta["namespace"], f"{meta['name']}-driver", template, labels)
        state["state"] = "RUNNING"
        app["status"]["driverInfo"] = {"podName": f"{meta['name']}-driver"}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


class StandIn:
    """The server: ``with StandIn() as api: api.url …``; ``api.requests`` is the record."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.cluster = Cluster()
        self.requests: list[Request] = []
        self.log_reads: list[dict[str, Any]] = []
        self.unsupported: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else None

            def _send(self, code: int, payload: Any, content_type: str = "application/json"):
                data = (
                    payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
                )
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                body = self._body()
                parsed = parse_request(self.command, self.path)
                if parsed is None:
                    self._send(404, _status(404, "NotFound", f"{self.path} is not served"))
                    return
                req, query = parsed
                with stand_in.cluster.lock:
                    stand_in.requests.append(req)
                    code, payload, ctype = stand_in.answer(req, query, body)
                self._send(code, payload, ctype)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def kubeconfig(self, namespace: str = "default") -> str:
        """A kubeconfig (YAML text) for this server, token auth (the token is not checked)."""
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: stand-in, cluster: {{server: '{self.url}'}}}}]\n"
            "users: [{name: stand-in, user: {token: stand-in}}]\n"
            "contexts: [{name: stand-in, context: {cluster: stand-in, user: stand-in, "
            f"namespace: {namespace}}}}}]\ncurrent-context: stand-in\n"
        )

    # --- the API ---------------------------------------------------------------------------
    def answer(  # noqa: PLR0911, PLR0912 - one dispatcher over the API's verbs
        self, req: Request, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any, str]:
        c = self.cluster
        ns = req.namespace or ""
        res = req.resource
        if req.verb == "create":
            if req.name is not None or not isinstance(body, dict):
                return self._unsupported(req)
            body.setdefault("metadata", {})["namespace"] = ns
            name = body["metadata"].get("name")
            if not name:
                return 422, _status(422, "Invalid", "metadata.name is required"), "application/json"
            if c.get(res, ns, name) is not None:
                msg = f'{res} "{name}" already exists'
                return 409, _status(409, "AlreadyExists", msg), "application/json"
            if res == "jobs":
                return 201, c.create_job(ns, body), "application/json"
            if res == "sparkapplications":
                return 201, c.create_spark_application(body), "application/json"
            if res == "pods":
                pod = c.new_pod(ns, name, body, body["metadata"].get("labels") or {})
                return 201, pod, "application/json"
            return self._unsupported(req)
        if req.verb in ("list", "watch"):
            items = [
                o
                for o in c.items(res, req.namespace)
                if label_match(
                    o["metadata"].get("labels") or {}, query.get("labelSelector", [""])[0]
                )
                and field_match(o, query.get("fieldSelector", [""])[0])
            ]
            if req.verb == "watch":
                lines = [json.dumps({"type": "ADDED", "object": o}) for o in items]
                return 200, ("\n".join(lines) + "\n").encode(), "application/json"
            kind = {"pods": "PodList", "jobs": "JobList", "events": "EventList"}.get(res, "List")
            return (
                200,
                {"apiVersion": "v1", "kind": kind, "metadata": {}, "items": items},
                "application/json",
            )
        obj = c.get(res, ns, req.name or "")
        if obj is None:
            msg = f'{res} "{req.name}" not found'
            return 404, _status(404, "NotFound", msg), "application/json"
        if req.verb == "get":
            if res == "pods" and req.subresource == "log":
                c.finish_pod(obj)
                return 200, self._log(req, query), "text/plain"
            if req.subresource not in (None, "status"):
                return self._unsupported(req)
            if res == "jobs" and req.subresource == "status" and self._has_pod(obj):
                c.finish_job(obj)
            if res == "sparkapplications":
                c.advance_spark_application(obj)
            return 200, obj, "application/json"
        if req.verb == "patch" and isinstance(body, dict):
            labels = (body.get("metadata") or {}).get("labels") or {}
            obj["metadata"].setdefault("labels", {}).update(labels)
            return 200, obj, "application/json"
        if req.verb == "delete":
            c.delete(res, ns, obj["metadata"]["name"])
            if res == "jobs":
                for pod in c.items("pods", ns):
                    if pod["metadata"]["labels"].get("job-name") == req.name:
                        c.delete("pods", ns, pod["metadata"]["name"])
            if res == "sparkapplications":
                c.delete("pods", ns, f"{req.name}-driver")
            return 200, obj, "application/json"
        return self._unsupported(req)

    def _log(self, req: Request, query: dict[str, list[str]]) -> bytes:
        tail = query.get("tailLines", [None])[0]
        self.log_reads.append(
            {
                "pod": req.name,
                "container": query.get("container", [None])[0],
                "tailLines": None if tail is None else int(tail),
                "follow": query.get("follow", ["false"])[0].lower() in ("true", "1"),
            }
        )
        lines = list(self.cluster.pod_log_lines)
        if tail is not None:
            lines = lines[-int(tail) :] if int(tail) > 0 else []
        return "".join(f"{line}\n" for line in lines).encode()

    def _has_pod(self, job: dict[str, Any]) -> bool:
        name = job["metadata"]["name"]
        pods = self.cluster.items("pods", job["metadata"]["namespace"])
        return any(p["metadata"]["labels"].get("job-name") == name for p in pods)

    def _unsupported(self, req: Request) -> tuple[int, Any, str]:
        self.unsupported.append(json.dumps(req.as_dict()))
        msg = f"the stand-in does not serve {req.verb} {req.resource}/{req.subresource}"
        return 405, _status(405, "MethodNotAllowed", msg), "application/json"
