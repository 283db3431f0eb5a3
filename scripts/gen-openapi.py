#!/usr/bin/env python3
# Writes cloud/api/openapi.json, the OpenAPI 3 document of the control plane.
# Edit this file, run it, and commit both; TestOpenAPICoversEveryRoute fails
# when a served route is missing from the document.
import os
import json
def ref(n): return {"$ref": "#/components/schemas/"+n}
def err(desc): return {"description": desc, "content": {"application/json": {"schema": ref("Error")}}}
def ok(desc, schema=None, code="200"):
    r = {"description": desc}
    if schema: r["content"] = {"application/json": {"schema": schema}}
    return r
common = {"401": err("Missing, invalid, expired or revoked token"), "403": err("Missing permission (or CSRF token for cookie sessions)"), "429": err("Rate limited")}
def op(summary, perm=None, body=None, responses=None, params=None, tags=None, public=False):
    o = {"summary": summary, "tags": tags or []}
    if perm: o["description"] = "Requires permission `%s`." % perm; o["x-permission"] = perm
    if public: o["security"] = []
    if params: o["parameters"] = params
    if body: o["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    rs = dict(responses or {})
    if not public: rs.update({k: v for k, v in common.items() if k not in rs})
    else: rs.setdefault("429", common["429"])
    o["responses"] = rs
    return o
email = {"name": "email", "in": "path", "required": True, "schema": {"type": "string", "format": "email"}}
def q(name, desc, fmt=None, typ="string", required=False):
    s = {"type": typ}
    if fmt: s["format"] = fmt
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": s}
paths = {
 "/healthz": {"get": op("Liveness", public=True, tags=["operations"], responses={"200": ok("Alive", {"type": "object"})})},
 "/readyz": {"get": op("Readiness: the database answers", public=True, tags=["operations"], responses={"200": ok("Ready", {"type": "object"}), "503": err("Database unreachable")})},
 "/metrics": {"get": op("Prometheus metrics (bearer STREAMFORGE_METRICS_TOKEN, or loopback clients when unset)", public=True, tags=["operations"], responses={"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}, "401": err("Wrong metrics token"), "403": err("Not a loopback client")})},
 "/api/v1/openapi.json": {"get": op("This document", public=True, tags=["operations"], responses={"200": ok("OpenAPI 3 document", {"type": "object"})})},
 "/api/v1/auth/login": {"post": op("Log in with email and password", public=True, tags=["auth"], body=ref("LoginRequest"), responses={"200": ok("Session started; also set as the __Host-streamforge_session cookie", ref("TokenResponse")), "400": err("Bad input"), "401": err("Invalid email or password"), "413": err("Body too large"), "415": err("Not JSON"), "429": err("Too many failed logins; see Retry-After")})},
 "/api/v1/auth/refresh": {"post": op("Exchange the current token for a new one (the old one is revoked)", tags=["auth"], responses={"200": ok("New session", ref("TokenResponse"))})},
 "/api/v1/auth/logout": {"post": op("Revoke the current token", tags=["auth"], responses={"204": ok("Logged out")})},
 "/api/v1/auth/me": {"get": op("The caller's identity and grants", tags=["auth"], responses={"200": ok("Identity", ref("Me"))})},
 "/api/v1/users": {
   "get": op("List users", "users:manage", tags=["users"], responses={"200": ok("Users", {"type": "object", "properties": {"users": {"type": "array", "items": ref("User")}}})}),
   "post": op("Create a user", "users:manage", tags=["users"], body=ref("CreateUser"), responses={"201": ok("Created", ref("User")), "400": err("Bad input"), "409": err("User exists")})},
 "/api/v1/users/{email}": {
   "parameters": [email],
   "get": op("Get a user", "users:manage", tags=["users"], responses={"200": ok("User", ref("User")), "404": err("No such user")}),
   "patch": op("Change roles, gateway_access or password (revokes the user's tokens)", "users:manage", tags=["users"], body=ref("UpdateUser"), responses={"200": ok("Updated", ref("User")), "400": err("Bad input"), "404": err("No such user"), "409": err("Would leave no enabled Admin")}),
   "delete": op("Delete a user", "users:manage", tags=["users"], responses={"204": ok("Deleted"), "404": err("No such user"), "409": err("Own account, or last Admin")})},
 "/api/v1/users/{email}/disable": {"parameters": [email], "post": op("Disable a user (revokes their tokens at once)", "users:manage", tags=["users"], responses={"200": ok("Disabled", ref("User")), "404": err("No such user"), "409": err("Own account, or last Admin")})},
 "/api/v1/users/{email}/enable": {"parameters": [email], "post": op("Enable a user", "users:manage", tags=["users"], responses={"200": ok("Enabled", ref("User")), "404": err("No such user")})},
 "/api/v1/audit": {"get": op("Query the audit trail, newest first", "audit:read", tags=["audit"], params=[q("user", "Exact user email"), q("event_type", "Event type prefix, e.g. user. or authentication.failure"), q("resource_id", "Exact resource id"), q("from", "Inclusive start", "date-time"), q("to", "Exclusive end", "date-time"), q("limit", "Page size (max 500)", typ="integer"), q("cursor", "next_cursor of the previous page", typ="integer")], responses={"200": ok("A page of records", ref("AuditPage")), "400": err("Bad filter")})},
 "/api/v1/audit/verify": {"get": op("Verify the audit hash chain", "audit:read", tags=["audit"], responses={"200": ok("Verification report", ref("AuditVerifyReport"))})},
 "/api/v1/audit/compliance/gdpr": {"get": op("GDPR: a user's events in the last 90 days", "audit:read", tags=["audit"], params=[q("user", "User email", required=True)], responses={"200": ok("Records", {"type": "object"}), "400": err("user missing")})},
 "/api/v1/audit/compliance/soc2": {"get": op("SOC 2: the configuration-change trail in a time range (default: the last year)", "audit:read", tags=["audit"], params=[q("from", "Inclusive start", "date-time"), q("to", "Exclusive end", "date-time")], responses={"200": ok("Records", {"type": "object"}), "400": err("Bad time")})},
 "/api/v1/audit/compliance/iso27001": {"get": op("ISO 27001: users with more than 5 failed logins in 30 days", "audit:read", tags=["audit"], responses={"200": ok("Users and counts", {"type": "object"})})},
}
strs = {"type": "array", "items": {"type": "string"}}
schemas = {
 "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
 "LoginRequest": {"type": "object", "required": ["email", "password"], "additionalProperties": False, "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string", "format": "password"}}},
 "TokenResponse": {"type": "object", "properties": {"token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}, "csrf_token": {"type": "string", "description": "Send as X-CSRF-Token on unsafe requests authenticated by the cookie"}}},
 "Me": {"type": "object", "properties": {"email": {"type": "string"}, "roles": strs, "permissions": strs, "gateway_access": strs, "expires_at": {"type": "string", "format": "date-time"}, "csrf_token": {"type": "string"}}},
 "User": {"type": "object", "properties": {"email": {"type": "string"}, "roles": strs, "gateway_access": strs, "disabled": {"type": "boolean"}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
 "Role": {"type": "string", "enum": ["Viewer", "Operator", "Engineer", "Admin", "Copilot"]},
 "CreateUser": {"type": "object", "required": ["email", "password", "roles"], "additionalProperties": False, "properties": {"email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 12, "maxLength": 1024}, "roles": {"type": "array", "minItems": 1, "items": ref("Role")}, "gateway_access": {"type": "array", "items": {"type": "string", "minLength": 1}, "description": "Gateway ids, site names, or *"}}},
 "UpdateUser": {"type": "object", "additionalProperties": False, "properties": {"password": {"type": "string", "minLength": 12, "maxLength": 1024}, "roles": {"type": "array", "minItems": 1, "items": ref("Role")}, "gateway_access": {"type": "array", "items": {"type": "string", "minLength": 1}}}},
 "AuditRecord": {"type": "object", "description": "One audit event with its place in the hash chain", "additionalProperties": True},
 "AuditPage": {"type": "object", "properties": {"records": {"type": "array", "items": ref("AuditRecord")}, "next_cursor": {"type": "integer", "nullable": True}}},
 "AuditVerifyReport": {"type": "object", "additionalProperties": True},
}
doc = {"openapi": "3.0.3", "info": {"title": "StreamForge control plane API", "version": "1.0.0", "description": "Authenticate with `Authorization: Bearer <token>` (from /api/v1/auth/login) or, in browsers, the __Host-streamforge_session cookie plus the X-CSRF-Token header on unsafe methods. Errors are JSON: {\"error\": \"message\"}."},
 "servers": [{"url": "/"}], "security": [{"bearerAuth": []}, {"cookieAuth": []}],
 "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}, "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "__Host-streamforge_session"}}, "schemas": schemas},
 "paths": paths}


gid = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
gw_sec = [{"gatewayToken": []}]
def gwop(summary, body=None, responses=None):
    o = op(summary, body=body, responses=responses, tags=["gateway-facing"])
    o["security"] = gw_sec
    o["description"] = "Gateway token only (audience streamforge-gateway); a gateway may reach only its own id."
    o["responses"].pop("403", None)
    o["responses"]["403"] = err("Another gateway's route")
    return o
paths.update({
 "/api/v1/gateways/register": {"post": op("Disabled self-registration: always 410", public=True, tags=["gateway-facing"], responses={"410": err("Use enrollment")})},
 "/api/v1/gateways/enroll": {"post": op("Enroll a gateway with an enrollment token; it becomes pending", public=True, tags=["gateway-facing"], body=ref("EnrollRequest"), responses={"202": ok("Enrolled (pending, or its current status)", ref("EnrollResponse")), "400": err("Bad input"), "401": err("Bad, expired, revoked or used-up token, or bad proof"), "409": err("Gateway id bound to another identity")})},
 "/api/v1/gateways/activate": {"post": op("Answer the TPM credential activation challenge of an enrollment; the gateway then becomes pending", public=True, tags=["gateway-facing"], body={"type": "object", "required": ["gateway_id", "secret"], "additionalProperties": False, "properties": {"gateway_id": {"type": "string"}, "secret": {"type": "string", "format": "byte"}}}, responses={"200": ok("Activated", ref("EnrollResponse")), "400": err("Bad input"), "401": err("Wrong, late or replayed answer, or an identity key the TPM did not certify")})},
 "/api/v1/gateways/token/challenge": {"post": op("Get a single-use nonce to sign", public=True, tags=["gateway-facing"], body={"type": "object", "required": ["gateway_id"], "properties": {"gateway_id": {"type": "string"}}}, responses={"200": ok("Nonce", {"type": "object", "properties": {"nonce": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}}), "400": err("Bad gateway id")})},
 "/api/v1/gateways/token": {"post": op("Get the gateway's 1-year token on proof of possession of its identity key", public=True, tags=["gateway-facing"], body=ref("TokenRequest"), responses={"200": ok("Token", ref("GatewayToken")), "401": err("No or bad proof"), "403": err("Gateway not approved")})},
 "/api/v1/gateways/token/renew": {"post": gwop("Renew the gateway token (current token plus a fresh proof); older tokens are revoked", body=ref("TokenRequest"), responses={"200": ok("Token", ref("GatewayToken"))})},
 "/api/v1/gateways/{id}/config/current": {"parameters": [gid], "get": gwop("The deployed config (ETag; If-None-Match answers 304)", responses={"200": ok("Config", ref("GatewayConfig")), "304": {"description": "Unchanged"}, "404": err("No config deployed")})},
 "/api/v1/gateways/{id}/ak-certificate": {"parameters": [gid], "post": gwop("The AK certificate of this approved TPM gateway (permanentIdentifier = gateway id), for step-ca device-attest-01", responses={"200": ok("DER certificates, base64", {"type": "object", "properties": {"certificate": {"type": "string", "format": "byte"}, "chain": {"type": "array", "items": {"type": "string", "format": "byte"}}}}), "503": err("No attestation CA configured")})},
 "/api/v1/gateways/{id}/heartbeat": {"parameters": [gid], "post": gwop("Report health", body=ref("Heartbeat"), responses={"204": ok("Recorded"), "400": err("Bad input")})},
 "/api/v1/enrollment-tokens": {
   "post": op("Create an enrollment token (its sfe_ value is shown only here)", "gateways:manage", tags=["gateways"], body={"type": "object", "required": ["expires_in", "max_uses"], "additionalProperties": False, "properties": {"expires_in": {"type": "string", "example": "24h"}, "max_uses": {"type": "integer", "minimum": 1, "maximum": 100000}, "site": {"type": "string"}}}, responses={"201": ok("Created", ref("EnrollmentToken")), "400": err("Bad input")}),
   "get": op("List enrollment tokens (never their values)", "gateways:manage", tags=["gateways"], responses={"200": ok("Tokens", {"type": "object", "properties": {"enrollment_tokens": {"type": "array", "items": ref("EnrollmentToken")}}})})},
 "/api/v1/enrollment-tokens/{id}": {"parameters": [gid], "delete": op("Revoke an enrollment token", "gateways:manage", tags=["gateways"], responses={"204": ok("Revoked"), "404": err("No such token")})},
 "/api/v1/gateways": {"get": op("List gateways within your gateway_access: filtered, sorted and paged in the database", "gateways:read", tags=["gateways"], params=[q("q", "Case-insensitive substring of id, site or hostname (at most 255 characters)"), q("status", "activating, pending, approved, rejected, disabled, or online / offline (approved, by heartbeat age)"), q("sort", "id (default), site, hostname, status, last_seen_at, enrolled_at or agent_version; prefix - for descending"), q("page", "Page number from 1", typ="integer"), q("limit", "Page size, 1 to 500 (default 50)", typ="integer")], responses={"200": ok("A page of gateways", ref("GatewayPage")), "400": err("Bad filter, sort or paging")})},
 "/api/v1/fleet/overview": {"get": op("The fleet at a glance within your gateway_access: gateways by state, readings/s and buffer depth of the last 30 minutes per minute (from heartbeats), gateway tokens and AK certificates expiring within 30 days", "gateways:read", tags=["gateways"], responses={"200": ok("Overview", ref("FleetOverview"))})},
 "/": {"get": {"summary": "The dashboard (single-page app; its pages are URL fragments)", "tags": ["dashboard"], "security": [], "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
 "/ui/{file}": {"get": {"summary": "The dashboard's embedded script and style sheet (gzip when accepted)", "tags": ["dashboard"], "security": [], "parameters": [{"name": "file", "in": "path", "required": True, "schema": {"type": "string", "example": "app.js"}}], "responses": {"200": {"description": "JavaScript or CSS"}, "404": err("No such file")}}},
 "/api/v1/gateways/{id}": {"parameters": [gid],
   "get": op("Get a gateway", "gateways:read", tags=["gateways"], responses={"200": ok("Gateway", ref("Gateway")), "404": err("No such gateway within your access")}),
   "delete": op("Delete a gateway", "gateways:manage", tags=["gateways"], responses={"204": ok("Deleted"), "404": err("No such gateway within your access")})},
 "/api/v1/gateways/{id}/health": {"parameters": [gid], "get": op("Heartbeat history, newest first", "gateways:read", tags=["gateways"], params=[q("limit", "At most 1000", typ="integer")], responses={"200": ok("Heartbeats", {"type": "object"}), "404": err("No such gateway within your access")})},
 "/api/v1/gateways/{id}/config": {"parameters": [gid],
   "get": op("Read the deployed config", "configs:read", tags=["gateways"], responses={"200": ok("Config", ref("GatewayConfig")), "404": err("No gateway or no config")}),
   "put": op("Deploy a config document (next version)", "configs:deploy", tags=["gateways"], body={"type": "object", "required": ["config"], "additionalProperties": False, "properties": {"config": {"type": "object"}}}, responses={"200": ok("Deployed", ref("GatewayConfig")), "400": err("Not a JSON object"), "404": err("No such gateway within your access")})},
 "/api/v1/gateways/claim": {"post": op("Claim a pending gateway by its claim code: bind it to a site and approve it", "gateways:claim", tags=["gateways"], body={"type": "object", "required": ["gateway_id", "claim_code", "site"], "additionalProperties": False, "properties": {"gateway_id": {"type": "string"}, "claim_code": {"type": "string", "example": "7KQ2M-9XH4R-C"}, "site": {"type": "string"}}}, responses={"200": ok("Claimed", ref("Gateway")), "400": err("Bad input"), "403": err("Wrong, expired or used code"), "429": err("Too many wrong codes; see Retry-After")})},
 "/claim": {"get": {"summary": "The claim page a gateway's QR code opens (HTML, phone-sized)", "tags": ["dashboard"], "security": [], "parameters": [q("gateway", "Gateway id"), q("code", "Claim code")], "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
 "/claim.js": {"get": {"summary": "Script of the claim page", "tags": ["dashboard"], "security": [], "responses": {"200": {"description": "JavaScript", "content": {"text/javascript": {"schema": {"type": "string"}}}}}}},
 "/claim.css": {"get": {"summary": "Style of the claim page", "tags": ["dashboard"], "security": [], "responses": {"200": {"description": "CSS", "content": {"text/css": {"schema": {"type": "string"}}}}}}},
})
for a, d in [("approve", "Approve a pending or rejected gateway"), ("reject", "Reject a pending gateway"), ("disable", "Disable a gateway (its tokens stop working at once)"), ("enable", "Enable a disabled gateway")]:
    paths["/api/v1/gateways/{id}/" + a] = {"parameters": [gid], "post": op(d, "gateways:manage", tags=["gateways"], responses={"200": ok("Gateway", ref("Gateway")), "404": err("No such gateway within your access"), "409": err("Not allowed from its current status")})}
schemas.update({
 "EnrollRequest": {"type": "object", "required": ["gateway_id", "enrollment_token", "identity", "proof"], "additionalProperties": False, "properties": {"gateway_id": {"type": "string", "pattern": "^[a-zA-Z0-9][a-zA-Z0-9._-]{2,63}$"}, "enrollment_token": {"type": "string"}, "hostname": {"type": "string"}, "hardware_info": {"type": "object", "additionalProperties": {"type": "string"}}, "identity": {"type": "object", "required": ["kind", "public_key"], "properties": {"kind": {"type": "string", "enum": ["tpm", "key"]}, "public_key": {"type": "string", "description": "PEM PUBLIC KEY of the signing key (inside the TPM for kind tpm)"}, "evidence": {"type": "object", "description": "kind tpm: ek_public, ek_certificate, ak {public, create_data, create_attestation, create_signature}, tpm {manufacturer, model, version}"}, "certification": {"type": "object", "description": "kind tpm: the AK's certification of the identity key (public, create_data, create_attestation, create_signature)"}}}, "proof": {"type": "string", "format": "byte", "description": "Signature over streamforge-enroll-v1\\n<gateway_id>\\n<hex sha256 of the token> with the identity key"}}},
 "EnrollResponse": {"type": "object", "properties": {"gateway_id": {"type": "string"}, "status": {"type": "string", "enum": ["activating", "pending", "approved", "disabled"]}, "site": {"type": "string"}, "claim_code": {"type": "string"}, "claim_expires_at": {"type": "string", "format": "date-time"}, "ek_verified": {"type": "boolean"}, "credential": {"type": "object", "description": "kind tpm: the activation challenge {credential, secret} for the TPM"}}},
 "TokenRequest": {"type": "object", "required": ["gateway_id", "nonce", "signature"], "additionalProperties": False, "properties": {"gateway_id": {"type": "string"}, "nonce": {"type": "string"}, "signature": {"type": "string", "format": "byte", "description": "Signature over streamforge-gateway-token-v1\\n<gateway_id>\\n<nonce>"}}},
 "GatewayToken": {"type": "object", "properties": {"gateway_id": {"type": "string"}, "token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}},
 "GatewayConfig": {"type": "object", "properties": {"gateway_id": {"type": "string"}, "version": {"type": "integer"}, "config": {"type": "object"}}},
 "Heartbeat": {"type": "object", "additionalProperties": False, "properties": {"status": {"type": "string", "maxLength": 32}, "agent_version": {"type": "string", "maxLength": 64}, "config_version": {"type": "integer", "minimum": 0}, "buffer_depth": {"type": "integer", "minimum": 0}, "readings_total": {"type": "integer", "minimum": 0, "description": "Readings the agent has buffered since its buffer was created; readings/s is its growth"}, "adapters": {"type": "array", "maxItems": 256, "items": {"type": "object", "properties": {"name": {"type": "string"}, "device": {"type": "string"}, "connected": {"type": "boolean"}, "last_error": {"type": "string"}}}}}},
 "EnrollmentToken": {"type": "object", "properties": {"id": {"type": "string"}, "token": {"type": "string", "description": "Only in the creation answer"}, "site": {"type": "string"}, "max_uses": {"type": "integer"}, "uses": {"type": "integer"}, "expires_at": {"type": "string", "format": "date-time"}, "revoked_at": {"type": "string", "format": "date-time"}, "created_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}},
 "Gateway": {"type": "object", "additionalProperties": True, "properties": {"id": {"type": "string"}, "site": {"type": "string"}, "status": {"type": "string", "enum": ["activating", "pending", "approved", "rejected", "disabled"]}, "hostname": {"type": "string"}, "identity_kind": {"type": "string", "enum": ["tpm", "key"]}, "identity_fingerprint": {"type": "string", "description": "SHA-256 of the identity key (for kind tpm: of the EK)"}, "ek_verified": {"type": "boolean"}, "ek_reason": {"type": "string"}, "tpm": {"type": "object", "properties": {"manufacturer": {"type": "string"}, "model": {"type": "string"}, "version": {"type": "string"}}}, "last_seen_at": {"type": "string", "format": "date-time"}, "ak_cert_expires_at": {"type": "string", "format": "date-time", "description": "When the AK certificate last issued to this TPM gateway expires"}, "agent_version": {"type": "string"}, "applied_config_version": {"type": "integer"}, "deployed_config_version": {"type": "integer"}}},
 "GatewayPage": {"type": "object", "properties": {"gateways": {"type": "array", "items": ref("Gateway")}, "total": {"type": "integer", "description": "All gateways matching the filter"}, "page": {"type": "integer"}, "limit": {"type": "integer"}}},
 "FleetOverview": {"type": "object", "properties": {"counts": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "By status, plus online and offline"}, "offline_after_seconds": {"type": "integer"}, "series": {"type": "array", "items": {"type": "object", "properties": {"time": {"type": "string", "format": "date-time"}, "readings_per_second": {"type": "number"}, "buffer_depth": {"type": "integer"}, "gateways": {"type": "integer", "description": "Gateways that reported in this minute"}}}}, "expiring": {"type": "array", "items": {"type": "object", "properties": {"gateway_id": {"type": "string"}, "credential": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}}}}},
})
doc["components"]["securitySchemes"]["gatewayToken"] = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "Gateway token from /api/v1/gateways/token"}

json.dump(doc, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cloud", "api", "openapi.json"), "w"), indent=1)

