#!/usr/bin/env python3
"""Start, follow and stop a recording through recfleet's HTTP API, with Python's standard library only.

    RECFLEET_API_URL=http://127.0.0.1:8080 RECFLEET_API_KEY=... \\
      python3 recfleet_example.py --app-id demo --channel lobby --uid 1001 --token "$TOKEN" --seconds 10

It starts a recording (POST /v1/recordings), follows its server-sent events
(GET /v1/recordings/{id}/events) and prints each one, asks the worker to stop after --seconds
(POST /v1/recordings/{id}/stop), and exits 0 once the recording is uploaded (1 if it failed, 3 if it
ended in the backup store). Errors of the API are RFC 9457 problems: their code, detail and refused
fields are printed, and the exit code is 2.
"""

import argparse
import json
import os
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

TERMINAL_EVENTS = {"uploaded", "backed_up", "fatal_error"}
EXIT_CODES = {"uploaded": 0, "backed_up": 3, "fatal_error": 1}


class ApiProblem(Exception):
    """An error answer of the API: its problem details (RFC 9457)."""

    def __init__(self, status, problem):
        super().__init__(f"{status} {problem.get('code')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class RecfleetApi:
    def __init__(self, url, key):
        self.url = url.rstrip("/")
        self.key = key

    def request(self, method, path, body=None, timeout=10, headers=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            return urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as err:
            raise ApiProblem(err.code, json.loads(err.read() or b"{}")) from None

    def call(self, method, path, body=None):
        with self.request(method, path, body) as res:
            return json.loads(res.read())

    def start(self, job):
        return self.call("POST", "/v1/recordings", job)

    def get(self, recording_id):
        return self.call("GET", f"/v1/recordings/{urllib.parse.quote(recording_id)}")

    def stop(self, recording_id):
        return self.call("POST", f"/v1/recordings/{urllib.parse.quote(recording_id)}/stop")

    def events(self, recording_id, after=None):
        """Yields the recording's events as the server sends them, until the stream ends."""
        headers = {"Accept": "text/event-stream"}
        if after:
            headers["Last-Event-ID"] = after
        path = f"/v1/recordings/{urllib.parse.quote(recording_id)}/events"
        # No read timeout beyond the keep-alive comments the server sends every 15 s.
        with self.request("GET", path, timeout=60, headers=headers) as res:
            data = []
            for raw in res:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        yield json.loads("\n".join(data))
                    data = []
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                # "id:", "event:", "retry:" and comment lines (": keep-alive") need nothing here.


def main():
    parser = argparse.ArgumentParser(description="Start, follow and stop a recfleet recording.")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--uid", type=int, required=True, help="the recorder's uid in the channel")
    parser.add_argument("--token", help="channel join token (channel recordings)")
    parser.add_argument("--source-url", help="record this one stream instead of the channel's users")
    parser.add_argument("--profile", default="local", help="storage profile of the fleet's workers")
    parser.add_argument("--seconds", type=float, default=10, help="stop after this long")
    args = parser.parse_args()

    api = RecfleetApi(os.environ["RECFLEET_API_URL"], os.environ["RECFLEET_API_KEY"])
    job = {
        "appId": args.app_id,
        "channel": args.channel,
        "uid": args.uid,
        "recordingConfig": {"segmentSeconds": 2},
        "storage": {"profile": args.profile},
    }
    if args.token:
        job["token"] = args.token
    if args.source_url:
        job["sourceUrl"] = args.source_url
    try:
        started = api.start(job)
    except ApiProblem as err:
        print(f"refused: {err}", file=sys.stderr)
        for field in err.problem.get("errors", []):
            print(f"  {field['field']}: {field['rule']}", file=sys.stderr)
        return 2
    recording_id = started["recordingId"]
    print(f"recording {recording_id} ({'started' if started['created'] else 'already there'})", flush=True)

    timer = threading.Timer(args.seconds, lambda: print(f"stop: {api.stop(recording_id)['state']}", flush=True))
    timer.start()
    last_id = None
    try:
        # The stream rides through Redis outages; a dropped connection is opened again after the last event.
        while True:
            try:
                for event in api.events(recording_id, after=last_id):
                    last_id = event["id"]
                    print(f"{event['type']} {json.dumps(event['data'])}", flush=True)
                    if event["type"] in TERMINAL_EVENTS:
                        return EXIT_CODES[event["type"]]
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                print(f"event stream interrupted ({err}); reconnecting", file=sys.stderr, flush=True)
                continue
            # The stream ended without a terminal event: over without one (it failed before it ran),
            # or the API restarted, and the stream is opened again.
            state = api.get(recording_id)["state"]
            if state in ("uploaded", "backed_up", "failed"):
                print(f"ended {state}", flush=True)
                return {"uploaded": 0, "backed_up": 3}.get(state, 1)
    finally:
        timer.cancel()


if __name__ == "__main__":
    sys.exit(main())
