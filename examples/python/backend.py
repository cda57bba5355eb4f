#!/usr/bin/python3
"""pyusers: a Portcullis backend written in Python, without the Go SDK.

It logs users in with a password, checked against PBKDF2-SHA256 hashes in
the backend's configuration:

    config:
      users:
        alice: pbkdf2_sha256$600000$<salt>$<base64 of the 32-byte hash>

It speaks the plugin protocol itself, as docs/plugin-protocol.md describes:
the handshake, mutual TLS, and the gRPC services the host calls. The host
runs it through the launcher beside it (main.go), because it executes only
native programs. `backend.py hash` reads a password on standard input and
prints its hash.
"""

import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import json
import os
import secrets
import signal
import sys
import tempfile
import threading

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import plugin_pb2 as pb

NAME, VERSION = "pyusers", "1.0.0"
PROTOCOL_VERSION = 4  # sdk.ProtocolVersion: the host refuses any other
COOKIE_KEY, COOKIE_VALUE = "PORTCULLIS_PLUGIN", "b3c1d6b0-portcullis-plugin-v1"
INVALID_CREDENTIALS = "invalid_credentials"  # the reason the lockout counts
HASH_SCHEME, NEW_HASH_ITERATIONS, MAX_ITERATIONS = "pbkdf2_sha256", 600_000, 10_000_000
STOP_GRACE = 5  # seconds for calls in flight at SIGTERM, as the Go SDK gives

stopping = threading.Event()  # set by SIGTERM, by the host's Shutdown, or when the host dies
log_lock = threading.Lock()
LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}
MIN_LEVEL = LEVELS.get(os.environ.get("PORTCULLIS_LOG_LEVEL"), 1)  # the host's log.level


def log(level, message, **fields):
    """Writes one line to the host's log. The host reads JSON lines in
    hclog's shape on standard error and keeps their level; it logs any other
    line verbatim at debug level. Never pass a secret."""
    if LEVELS[level] < MIN_LEVEL:
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    line = {"@level": level, "@message": message,
            "@timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **fields}
    with log_lock:
        sys.stderr.write(json.dumps(line) + "\n")
        sys.stderr.flush()


class CallError(Exception):
    """Ends one call with a gRPC status; the host maps the code back to an
    error of the Go SDK (docs/plugin-protocol.md, Errors)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def parse_hash(text):
    """Returns (iterations, salt, digest) of a pbkdf2_sha256$... string, or
    None if it is not one this backend can check."""
    parts = text.split("$") if isinstance(text, str) else []
    if len(parts) != 4 or parts[0] != HASH_SCHEME or not parts[2] \
            or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    try:
        digest = base64.b64decode(parts[3], validate=True)
    except ValueError:
        return None
    iterations = int(parts[1])
    if not 1 <= iterations <= MAX_ITERATIONS or len(digest) != 32:
        return None
    return iterations, parts[2].encode(), digest


def make_hash(password, iterations=NEW_HASH_ITERATIONS):
    salt = secrets.token_urlsafe(16)  # never holds a '$'
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{HASH_SCHEME}${iterations}${salt}${base64.b64encode(digest).decode()}"


def parse_config(raw):
    """Reads the backend's config section (JSON). Returns the users and the
    problems found, each as "path: message" like the Go SDK's."""
    try:
        cfg = json.loads(raw or b"{}")
    except ValueError:
        return {}, ["not valid JSON"]
    if not isinstance(cfg, dict):
        return {}, ["must be an object"]
    problems = [f"{key}: unknown key (known: users)" for key in sorted(cfg) if key != "users"]
    users = cfg.get("users", {})
    if not isinstance(users, dict):
        return {}, problems + ["users: must be an object of username: hash"]
    table = {}
    for name in sorted(users):
        parsed = parse_hash(users[name])
        if parsed is None:
            problems.append(f"users.{name}: must be {HASH_SCHEME}$<iterations>$<salt>$<base64 "
                            f"of 32 bytes>, with 1 to {MAX_ITERATIONS} iterations")
        else:
            table[name] = parsed
    return table, problems


class Backend:
    """The plugin's own services: Plugin (Metadata, Configure) and
    Authenticator. Configure runs before any Authenticate."""

    def __init__(self):
        self.instance, self.users = None, None
        # Each check holds a core for a while: bound how many run at once.
        self.slots = threading.BoundedSemaphore(os.cpu_count() or 1)

    def metadata(self, request, context):
        return pb.MetadataResponse(name=NAME, version=VERSION,
                                   capabilities=[pb.CAPABILITY_AUTHENTICATOR])

    def configure(self, request, context):
        users, problems = parse_config(request.config_json)
        if problems:
            raise CallError(grpc.StatusCode.INVALID_ARGUMENT,
                            "invalid configuration: " + "; ".join(problems))
        # Every check costs as much as the costliest hash, so that the time
        # an answer takes does not tell whether the user exists.
        self.cost = max((entry[0] for entry in users.values()), default=1)
        self.dummy = (self.cost, b"no such user", bytes(32))
        self.instance, self.users = request.instance, users
        log("info", "configured", users=len(users))
        return pb.ConfigureResponse()

    def authenticate(self, request, context):
        if self.users is None:
            raise CallError(grpc.StatusCode.FAILED_PRECONDITION, "not configured")
        # Wait for a slot no longer than the host waits for the answer.
        if not self.slots.acquire(timeout=context.time_remaining()):
            raise CallError(grpc.StatusCode.DEADLINE_EXCEEDED, "no check could start in time")
        try:
            ok = self.check(request.username, request.password)
        finally:
            self.slots.release()
        if not ok:  # a wrong password or an unknown user: a later backend may know them
            return pb.AuthenticateResponse(decision=pb.DECISION_ABSTAIN, reason=INVALID_CREDENTIALS)
        identity = pb.Identity(subject=f"{self.instance}:{request.username}",
                               username=request.username, attributes={"amr": "pwd"})
        return pb.AuthenticateResponse(decision=pb.DECISION_IDENTITY, identity=identity)

    def check(self, username, password):
        entry = self.users.get(username)
        iterations, salt, want = entry or self.dummy
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        if iterations < self.cost:
            hashlib.pbkdf2_hmac("sha256", b"", b"padding", self.cost - iterations)
        return entry is not None and hmac.compare_digest(got, want)


def unary(method, request_type):
    """A gRPC handler for one of the plugin's own methods. An unexpected
    exception is an error for that call (the host fails the login closed,
    never grants), and only its type is logged: its text could quote a
    secret."""
    def call(request, context):
        try:
            return method(request, context)
        except CallError as e:
            context.abort(e.code, e.message)
        except Exception as e:  # any failure must be an error, never an answer
            log("error", "plugin method failed", method=method.__name__, error=type(e).__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{method.__name__} failed")
    return grpc.unary_unary_rpc_method_handler(
        call, request_deserializer=request_type.FromString,
        response_serializer=lambda response: response.SerializeToString())


def hold_stream(request, context):
    """Keeps a stream go-plugin opens for the life of the connection (the
    broker's) open, sending nothing, until the host hangs up or the plugin
    stops. The host sends on it where it serves HostServices, which this
    backend does not use."""
    while context.is_active() and not stopping.wait(0.5):
        pass
    return iter(())


def go_plugin_services():
    """The services go-plugin's host side calls besides the plugin's own.
    Their messages are read and written as raw bytes: no generated code."""
    def shutdown(request, context):
        stopping.set()
        return b""  # an empty plugin.Empty
    return [
        # HealthCheckResponse{status: SERVING} is field 1, varint 1.
        grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
            "Check": grpc.unary_unary_rpc_method_handler(lambda request, context: b"\x08\x01")}),
        grpc.method_handlers_generic_handler("plugin.GRPCController", {
            "Shutdown": grpc.unary_unary_rpc_method_handler(shutdown)}),
        grpc.method_handlers_generic_handler("plugin.GRPCBroker", {
            "StartStream": grpc.stream_stream_rpc_method_handler(hold_stream)}),
    ]


def make_certificate():
    """A one-time key and self-signed certificate for this process, shaped
    as go-plugin makes its own: the host checks it as a server
    certificate for "localhost"."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(seconds=30))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), \
        cert.public_bytes(serialization.Encoding.DER)


def serve():
    host_cert = os.environ.get("PLUGIN_CLIENT_CERT", "").encode()
    if not host_cert:  # never serve without mutual TLS
        sys.exit(f"{NAME}: no PLUGIN_CLIENT_CERT: the host must use mutual TLS")
    if str(PROTOCOL_VERSION) not in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(","):
        sys.exit(f"{NAME}: the host does not speak plugin protocol version {PROTOCOL_VERSION}")
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the host, which stops us

    key_pem, cert_pem, cert_der = make_certificate()
    credentials = grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=host_cert, require_client_auth=True)
    backend = Backend()
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler("portcullis.plugin.v3.Plugin", {
            "Metadata": unary(backend.metadata, pb.MetadataRequest),
            "Configure": unary(backend.configure, pb.ConfigureRequest)}),
        grpc.method_handlers_generic_handler("portcullis.plugin.v3.Authenticator", {
            "Authenticate": unary(backend.authenticate, pb.AuthenticateRequest)}),
    ] + go_plugin_services())
    socket_dir = os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or tempfile.mkdtemp()
    socket_path = os.path.join(socket_dir, f"plugin{secrets.token_hex(4)}")
    server.add_secure_port("unix:" + socket_path, credentials)
    server.start()

    # The handshake: the only line this plugin writes on standard output.
    # The certificate is its DER in standard base64 without padding.
    cert = base64.b64encode(cert_der).decode().rstrip("=")
    print(f"1|{PROTOCOL_VERSION}|unix|{socket_path}|grpc|{cert}", flush=True)

    host = os.getppid()
    while not stopping.wait(0.25):
        if os.getppid() != host:  # re-parented: the host died
            break
    stopping.set()  # ends the held streams, so that only real calls delay the stop
    server.stop(STOP_GRACE).wait()


if __name__ == "__main__":
    if sys.argv[1:] == ["hash"]:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            sys.exit("hash: no password on standard input")
        print(make_hash(password))
    elif os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.exit(f"{NAME} is a Portcullis plugin: the host runs it. Run it with the "
                 "argument hash to hash a password read on standard input.")
    else:
        serve()
