#!/usr/bin/env python3
"""A tiny JSON to-do list as a WSGI app, run as a CGI script by wsgiref's CGIHandler.

    GET    /todos              -> {"todos": [...]}
    POST   /todos              -> 201 {"id", "title", "done"}; title from a JSON body
                                  {"title": "..."} or from ?title=...
    POST   /todos/<id>/done    -> 200, marks it done
    DELETE /todos/<id>         -> 204

State lives in a JSON file (TODO_FILE, set through the route's `env`), locked while in use,
because every request is a new process.
"""
import fcntl
import json
import os
import re
from urllib.parse import parse_qs
from wsgiref.handlers import CGIHandler

STORE = os.environ.get("TODO_FILE", "/tmp/flaks-todos.json")


def respond(start_response, status, payload=None):
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = [("Content-Length", str(len(body)))]
    if payload is not None:
        headers.append(("Content-Type", "application/json"))
    start_response(status, headers)
    return [body]


def read_body(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def app(environ, start_response):
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO") or "/"
    query = parse_qs(environ.get("QUERY_STRING", ""))
    with open(STORE, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read()
        state = json.loads(text) if text.strip() else {"next": 1, "todos": []}

        def save():
            f.seek(0)
            f.truncate()
            json.dump(state, f)

        if path == "/todos" and method == "GET":
            return respond(start_response, "200 OK", {"todos": state["todos"]})
        if path == "/todos" and method == "POST":
            title = query.get("title", [None])[0]
            raw = read_body(environ)
            if raw:
                try:
                    title = json.loads(raw).get("title", title)
                except (ValueError, AttributeError):
                    return respond(start_response, "400 Bad Request", {"error": "invalid JSON"})
            if not title:
                return respond(start_response, "400 Bad Request", {"error": "title required"})
            item = {"id": state["next"], "title": title, "done": False}
            state["next"] += 1
            state["todos"].append(item)
            save()
            return respond(start_response, "201 Created", item)
        m = re.fullmatch(r"/todos/(\d+)(/done)?", path)
        if m:
            ident = int(m.group(1))
            item = next((t for t in state["todos"] if t["id"] == ident), None)
            if item is None:
                return respond(start_response, "404 Not Found", {"error": "no such todo"})
            if m.group(2) and method == "POST":
                item["done"] = True
                save()
                return respond(start_response, "200 OK", item)
            if not m.group(2) and method == "DELETE":
                state["todos"].remove(item)
                save()
                return respond(start_response, "204 No Content")
            return respond(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
        return respond(start_response, "404 Not Found", {"error": "not found"})


if __name__ == "__main__":
    CGIHandler().run(app)
