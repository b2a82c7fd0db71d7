"""The OpenAPI 3.0 document for the REST API (served at /api/openapi.json)."""
from __future__ import annotations

from cases.intake import LIMITS
from cases.mailbox import RELEASABLE
from cases.workflow import ACTIONS, Channel, Kind, Status, Urgency


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _resp(description: str, schema: dict | None = None) -> dict:
    return {"description": description, **(_json(schema) if schema else {})}


ERRORS = {
    "400": _resp("Invalid input; `errors` names each field", _ref("ValidationError")),
    "401": _resp("Not signed in", _ref("Error")),
    "403": _resp("Role or department not allowed", _ref("Error")),
    "413": _resp("Body too large", _ref("Error")),
}


def openapi_document() -> dict:
    document = _document()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if "{" in path:  # an id the path names may not exist (or not be well formed)
                operation["responses"].setdefault("404", _resp("No such resource", _ref("Error")))
    return document


def _document() -> dict:
    strings = {name: {"type": "string", "maxLength": limit} for name, limit in LIMITS.items()}
    case_input = {
        "type": "object", "required": ["kind", "description"],
        "properties": {
            "kind": {"type": "string", "enum": [k.value for k in Kind]},
            "category": {"type": "string", "description": "taxonomy code, see /api/reference/categories"},
            **strings,
            "anonymous": {"type": "boolean", "default": False},
            "wants_reply": {"type": "boolean", "default": True,
                            "description": "when true, contact_phone or contact_email is required"},
            "urgency": {"type": "string", "enum": [u.value for u in Urgency], "description": "staff only"},
            "channel": {"type": "string", "enum": [c.value for c in Channel], "description": "staff only"},
            "locale": {"type": "string", "enum": ["zh", "en"]},
            "on_duplicate": {"type": "string", "enum": ["file", "refuse"], "default": "file", "description": (
                "staff only: when the citizen (by phone or email) has an open case about the same matter, "
                "file this one all the same (file: 201 with `similar`), or store nothing (refuse: 409 with `similar`)")},
            "supplement_to": {"type": "string", "description": (
                "staff only: the number of an open case this intake belongs to: added to it as the citizen's "
                "information (补充材料) instead of filing a case (200)")},
        },
    }
    similar_case = {"type": "object", "properties": {
        "number": {"type": "string"}, "status": {"type": "string", "enum": [s.value for s in Status]},
        "kind": {"type": "string"}, "category": {"type": "string", "nullable": True}, "title": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "score": {"type": "number"},
        "likely_duplicate": {"type": "boolean", "description": "the same citizen about the same matter"},
        "reasons": {"type": "array", "items": {"type": "string", "enum": ["citizen", "place", "category", "words"]}}}}
    public_case = {
        "type": "object",
        "properties": {
            "number": {"type": "string"}, "kind": {"type": "string"}, "kind_label": {"type": "string"},
            "category": {"type": "object", "nullable": True,
                         "properties": {"code": {"type": "string"}, "name": {"type": "string"}}},
            "title": {"type": "string"}, "status": {"type": "string", "enum": [s.value for s in Status]},
            "status_label": {"type": "string"}, "created_at": {"type": "string"},
            "deadline": {"type": "string", "nullable": True},
            "history": {"type": "array", "items": {"type": "object", "properties": {
                "at": {"type": "string"}, "action": {"type": "string"}, "label": {"type": "string"},
                "status": {"type": "string", "nullable": True}, "status_label": {"type": "string", "nullable": True},
                "comment": {"type": "string", "description": "the citizen's own words (补充材料, the comment of their rating)"}}}},
            "reply": {"type": "string", "nullable": True}, "replied_at": {"type": "string", "nullable": True},
        },
    }
    number = {"name": "number", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{13}$"}}
    bearer = [{"bearer": []}]

    def transfer_step(summary: str, done: str) -> dict:
        return {"summary": summary, "security": bearer, "parameters": [ID],
                "responses": {"200": _resp(done, _ref("Transfer")),
                              "409": _resp("Nothing to do in the transfer's state, or no telephony (ami_url)",
                                           _ref("ValidationError")), **ERRORS}}

    def decision(summary: str, required: bool) -> dict:
        body = {"type": "object", "properties": {"comment": {"type": "string", "description": (
            "the reason (required)" if required else "optional")}}, **({"required": ["comment"]} if required else {})}
        return {"summary": summary, "security": bearer, "parameters": [ID],
                "requestBody": {"required": required, **_json(body)},
                "responses": {"200": _resp("The decided request, with the case's status and deadline",
                                           _ref("CaseRequest")),
                              "409": _resp("Already decided, or the case moved on since the request", _ref("Error")),
                              **ERRORS}}

    ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0, "maximum": 999999999}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "12345 hotline gateway API", "version": "1.0",
                 "description": "Citizens submit and look up cases; staff list, read and work them. "
                                "Texts come in Chinese unless `?lang=en` or `Accept-Language: en`."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"],
                          "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
                "ValidationError": {"type": "object", "required": ["error", "errors"], "properties": {
                    "error": {"type": "string", "enum": ["invalid"]},
                    "errors": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "CaseInput": case_input,
                "CaseCreated": {"type": "object", "required": ["number", "password", "status", "deadline"],
                                "properties": {"number": {"type": "string"}, "password": {"type": "string"},
                                               "status": {"type": "string"}, "deadline": {"type": "string"},
                                               "similar": {"type": "array", "items": _ref("SimilarCase"),
                                                           "description": "staff only: similar open cases, best first "
                                                                          "(never told to a citizen)"}}},
                "SimilarCase": similar_case,
                "Supplemented": {"type": "object", "required": ["number", "status", "supplemented"], "properties": {
                    "number": {"type": "string"}, "status": {"type": "string"},
                    "supplemented": {"type": "boolean", "enum": [True]}}},
                "SimilarOpenCase": {"type": "object", "required": ["error", "message", "similar"], "properties": {
                    "error": {"type": "string", "enum": ["similar_open_case"]}, "message": {"type": "string"},
                    "similar": {"type": "array", "items": _ref("SimilarCase")}}},
                "PublicCase": public_case,
                "StaffCase": {"type": "object", "additionalProperties": True},
                "Leader": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "name": {"type": "string"}, "title": {"type": "string"},
                    "position": {"type": "integer"}, "active": {"type": "boolean"},
                    "phone": {"type": "string", "description": "admins only"}}},
                "Transfer": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "mode": {"type": "string", "enum": ["blind", "attended"]},
                    "target_kind": {"type": "string", "enum": ["department", "leader", "number"]},
                    "target": {"type": "string"}, "agent_no": {"type": "string"},
                    "number": {"type": "string", "description": "not shown to non-admins for a leader"},
                    "state": {"type": "string", "enum": ["dialing", "consulting", "done"]},
                    "outcome": {"type": "string", "nullable": True, "enum": [
                        "answered", "busy", "no_answer", "declined", "cancelled", "failed", "citizen_hung_up",
                        "agent_hung_up", None]},
                    "returned_to": {"type": "string", "nullable": True, "enum": ["agent", "queue", None]},
                    "linkedid": {"type": "string"}, "started_at": {"type": "string"},
                    "answered_at": {"type": "string", "nullable": True},
                    "ended_at": {"type": "string", "nullable": True}}},
                "ScheduledCall": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "case": {"type": "string"},
                    "kind": {"type": "string", "enum": ["callback", "poll_call"]}, "number": {"type": "string"},
                    "due_at": {"type": "string", "format": "date-time"}, "agent_no": {"type": "string"},
                    "poll": {"type": "integer"}, "max_attempts": {"type": "integer"}, "done": {"type": "boolean"},
                    "attempts": {"type": "array", "items": {"type": "object", "properties": {
                        "attempt": {"type": "integer"}, "result": {"type": "string"},
                        "linkedid": {"type": "string"}}}}}},
                "CaseRequest": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "case": {"type": "string"},
                    "kind": {"type": "string", "enum": ["extend", "return"]}, "kind_label": {"type": "string"},
                    "deadline": {"type": "string", "format": "date-time", "nullable": True,
                                 "description": "the deadline asked for (extensions); without a zone, the hotline's own time zone (setting timezone)"},
                    "reason": {"type": "string"}, "requested_by": {"type": "string", "nullable": True},
                    "requested_at": {"type": "string", "format": "date-time"},
                    "decision": {"type": "string", "nullable": True,
                                 "enum": ["approved", "refused", "lapsed", None],
                                 "description": "null while pending; lapsed: the case was returned meanwhile"},
                    "decided_by": {"type": "string", "nullable": True},
                    "decided_at": {"type": "string", "format": "date-time", "nullable": True},
                    "decision_comment": {"type": "string", "nullable": True},
                    "case_title": {"type": "string", "description": "pending lists"},
                    "case_status": {"type": "string"}, "case_deadline": {"type": "string", "nullable": True},
                    "department": {"type": "string", "description": "pending lists"}}},
                "Action": {"type": "object", "properties": {
                    "comment": {"type": "string"}, "reply": {"type": "string"},
                    "department": {"type": "string"}, "deadline": {"type": "string", "format": "date-time"},
                    "satisfaction": {"type": "integer", "enum": [1, 2, 3]}, "channel": {"type": "string"},
                    "into": {"type": "string", "description": "merge: the number of the master case (合并到)"}}},
            },
        },
        "paths": {
            "/api/cases": {
                "post": {"summary": "Submit a case (citizen, or staff with a bearer token)",
                         "security": [{}, {"bearer": []}],  # either: without a token, a citizen's
                         "requestBody": {"required": True, **_json(_ref("CaseInput"))},
                         "description": "A citizen's similar open cases are never mentioned to a citizen (a phone "
                                        "or email given here proves no one's identity): the case is filed and "
                                        "flagged for an agent. Staff (bearer token) are told them and choose "
                                        "with `on_duplicate` or `supplement_to`.",
                         "responses": {"201": _resp("Stored; the password is shown this once", _ref("CaseCreated")),
                                       "200": _resp("Staff's `supplement_to`: added to that open case, nothing filed",
                                                    _ref("Supplemented")),
                                       "409": _resp("Staff's `on_duplicate: refuse`: the citizen has an open case "
                                                    "about the same matter; nothing stored", _ref("SimilarOpenCase")),
                                       **ERRORS}},
                "get": {"summary": "List and search cases (staff)", "security": bearer,
                        "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}} for n in
                                       ("number", "phone", "q", "kind", "status", "channel", "category",
                                        "department", "from", "to", "overdue", "limit", "offset")],
                        "responses": {"200": _resp("A page of cases", {"type": "object", "properties": {
                            "total": {"type": "integer"}, "items": {"type": "array", "items": _ref("StaffCase")}}}),
                            **ERRORS}},
            },
            "/api/cases/lookup": {
                "post": {"summary": "Look a case up with its number and password",
                         "requestBody": {"required": True, **_json({
                             "type": "object", "required": ["number", "password"],
                             "properties": {"number": {"type": "string"}, "password": {"type": "string"}}})},
                         "responses": {"200": _resp("The citizen's view", _ref("PublicCase")),
                                       "404": _resp("Unknown number or wrong password (one answer for both)",
                                                    _ref("Error")),
                                       "429": _resp("Too many look-ups; see Retry-After", _ref("Error")),
                                       **ERRORS}},
            },
            "/api/cases/{number}": {
                "get": {"summary": "One whole case with events and attachments (staff)", "security": bearer,
                        "parameters": [number],
                        "responses": {"200": _resp("The case", _ref("StaffCase")),
                                      "404": _resp("No such case", _ref("Error")), **ERRORS}}},
            "/api/cases/{number}/actions/{action}": {
                "post": {"summary": "Apply a workflow action (staff; roles checked per action)", "security": bearer,
                         "parameters": [number, {"name": "action", "in": "path", "required": True,
                                                 "schema": {"type": "string", "enum": sorted(ACTIONS)}}],
                         "requestBody": {"required": True, **_json(_ref("Action"))},
                         "responses": {"200": _resp("The case after the action", _ref("StaffCase")),
                                       "409": _resp("Not allowed in the case's current state", _ref("Error")),
                                       **ERRORS}}},
            "/api/cases/{number}/calls": {
                "get": {"summary": "Scheduled callbacks and poll calls of the case, with their tries (hotline staff)",
                        "security": bearer, "parameters": [number],
                        "responses": {"200": _resp("The calls", {"type": "object", "properties": {
                            "calls": {"type": "array", "items": _ref("ScheduledCall")}}}), **ERRORS}},
                "post": {"summary": "Schedule a callback (the caller's extension first, then the citizen) or a "
                                    "poll call (the citizen and the bot), placed through AMI Originate",
                         "security": bearer, "parameters": [number],
                         "requestBody": {"required": True, **_json({
                             "type": "object", "required": ["kind", "due_at"], "properties": {
                                 "kind": {"type": "string", "enum": ["callback", "poll_call"]},
                                 "due_at": {"type": "string", "description": "ISO 8601; without an offset, the "
                                            "hotline's time zone"},
                                 "poll": {"type": "integer", "description": "an active poll (poll calls)"},
                                 "note": {"type": "string"}}})},
                         "responses": {"201": _resp("Scheduled", _ref("ScheduledCall")),
                                       "503": _resp("Telephony is not configured (ami_url)", _ref("Error")),
                                       **ERRORS}}},
            "/api/cases/{number}/calls/{id}": {
                "delete": {"summary": "Cancel a scheduled call not yet answered", "security": bearer,
                           "parameters": [number, {"name": "id", "in": "path", "required": True,
                                                   "schema": {"type": "integer"}}],
                           "responses": {"204": {"description": "Cancelled"},
                                         "404": _resp("No such pending call", _ref("Error")), **ERRORS}}},
            "/api/leaders": {
                "get": {"summary": "The leaders' list for transfers (hotline staff; phone numbers for admins only)",
                        "security": bearer,
                        "responses": {"200": _resp("The leaders", {"type": "object", "properties": {
                            "leaders": {"type": "array", "items": _ref("Leader")}}}), **ERRORS}},
                "post": {"summary": "Add a leader to the list (admins)", "security": bearer,
                         "requestBody": {"required": True, **_json({
                             "type": "object", "required": ["name", "phone"], "properties": {
                                 "name": {"type": "string", "maxLength": 100},
                                 "title": {"type": "string", "maxLength": 100},
                                 "phone": {"type": "string", "description": "3 to 20 digits, an optional leading +"},
                                 "position": {"type": "integer", "minimum": 0, "maximum": 10000}}})},
                         "responses": {"201": _resp("Added", _ref("Leader")), **ERRORS}}},
            "/api/leaders/{id}": {
                "delete": {"summary": "Remove a leader from the list (admins)", "security": bearer,
                           "parameters": [ID],
                           "responses": {"204": {"description": "Removed"}, **ERRORS}}},
            "/api/calls/transfers": {
                "post": {"summary": "Transfer the signed-in agent's live call (blind or attended) to a department's "
                                    "duty phone, a leader or a typed number, through AMI",
                         "security": bearer,
                         "requestBody": {"required": True, **_json({
                             "type": "object", "required": ["mode"], "properties": {
                                 "mode": {"type": "string", "enum": ["blind", "attended"]},
                                 "department": {"type": "string", "description": "a department code (one target)"},
                                 "leader": {"type": "integer", "description": "a leader's id (one target)"},
                                 "number": {"type": "string", "description": "a typed number (one target)"},
                                 "case": {"type": "string", "description": "the case whose history records it"}}})},
                         "responses": {"202": _resp("Started; the outcome follows", _ref("Transfer")),
                                       "409": _resp("No live call to transfer (or no telephony, ami_url)",
                                                    _ref("ValidationError")),
                                       **ERRORS}}},
            "/api/calls/transfers/{id}": {
                "get": {"summary": "How a transfer stands (its agent, supervisors, admins)", "security": bearer,
                        "parameters": [ID],
                        "responses": {"200": _resp("The transfer", _ref("Transfer")), **ERRORS}}},
            "/api/calls/transfers/{id}/complete": {"post": transfer_step(
                "Attended: join the citizen to the department the agent talks to; the agent leaves", "Completed")},
            "/api/calls/transfers/{id}/take-back": {"post": transfer_step(
                "Attended: end the consultation; the agent is with the citizen again", "Taken back")},
            "/api/requests": {
                "get": {"summary": "Departments' pending 延期 / 退回 requests, oldest first (supervisors and admins: "
                                   "all; a department handler: its own department's); with `case`, every request of "
                                   "that case, decided or not. A department asks with the case actions "
                                   "request_extend (deadline, comment) and request_return (comment)",
                        "security": bearer,
                        "parameters": [{"name": "case", "in": "query", "required": False,
                                        "schema": {"type": "string", "pattern": "^[0-9]{13}$"}}],
                        "responses": {"200": _resp("The requests", {"type": "object", "properties": {
                            "requests": {"type": "array", "items": _ref("CaseRequest")}}}),
                            "404": _resp("No such case", _ref("Error")), **ERRORS}}},
            "/api/requests/{id}": {
                "get": {"summary": "One request, decided or not (a handler: its own department's)", "security": bearer,
                        "parameters": [ID],
                        "responses": {"200": _resp("The request", _ref("CaseRequest")), **ERRORS}}},
            "/api/requests/{id}/approve": {"post": decision(
                "Approve (supervisors, admins): an extension moves the case's deadline itself; a return sends the "
                "case back to the hotline (已退回) and lapses the department's other requests", required=False)},
            "/api/requests/{id}/refuse": {"post": decision(
                "Refuse (supervisors, admins) with a reason the department sees", required=True)},
            "/api/auth/token": {
                "post": {"summary": "Sign in and get a bearer token",
                         "requestBody": {"required": True, **_json({
                             "type": "object", "required": ["username", "password"],
                             "properties": {"username": {"type": "string"}, "password": {"type": "string"}}})},
                         "responses": {"201": _resp("A token", {"type": "object", "properties": {
                             "token": {"type": "string"}, "expires_at": {"type": "string"},
                             "role": {"type": "string"}}}), **ERRORS}},
                "delete": {"summary": "Revoke the token in use", "security": bearer,
                           "responses": {"204": {"description": "Revoked"}, **ERRORS}}},
            "/api/me": {"get": {"summary": "The signed-in user", "security": bearer,
                                "responses": {"200": _resp("User", {"type": "object"}), **ERRORS}}},
            "/api/handoffs": {"get": {"summary": "Conversations waiting for an agent (the bot paused), with "
                                                 "the transcript", "security": bearer,
                                      "responses": {"200": _resp("Hand-off requests", {"type": "array"}), **ERRORS}}},
            "/api/conversations/{conversation}/release": {
                "post": {"summary": "Hand a paused conversation back to the bot", "security": bearer,
                         "parameters": [{"name": "conversation", "in": "path", "required": True,
                                         "schema": {"type": "string"}}],
                         "responses": {"204": {"description": "The bot answers again"}, **ERRORS}}},
            "/api/mail/held": {"get": {"summary": "Mail held for an agent: spam, a stranger's reply on a case, "
                                                  "unusable mail (when the mail channel runs)", "security": bearer,
                                       "parameters": [{"name": "state", "in": "query", "required": False,
                                                       "description": "only held, or only ignored, mail (default both)",
                                                       "schema": {"type": "string", "enum": list(RELEASABLE)}}],
                                       "responses": {"200": _resp("Held mail", {"type": "object"}),
                                                     "404": _resp("The mail channel is not running", _ref("Error")),
                                                     **ERRORS}}},
            "/api/mail/held/{id}/release": {
                "post": {"summary": "Release one held mail: it is processed as if it had passed", "security": bearer,
                         "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                         "responses": {"200": _resp("What became of it", {"type": "object"}),
                                       "404": _resp("No such held mail", _ref("Error")), **ERRORS}}},
            "/api/openapi.json": {"get": {"summary": "This document",
                                          "responses": {"200": _resp("OpenAPI 3", {"type": "object"})}}},
            "/api/reference/categories": {"get": {"summary": "The category taxonomy",
                                                  "responses": {"200": _resp("Tree", {"type": "array"})}}},
            "/api/reference/departments": {"get": {"summary": "Departments",
                                                   "responses": {"200": _resp("List", {"type": "array"})}}},
            "/healthz": {"get": {"summary": "Liveness and database check",
                                 "responses": {"200": {"description": "OK"}, "503": {"description": "Degraded"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text"}}}},
        },
    }
