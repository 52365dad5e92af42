"""An independent OTLP receiver for tests: gRPC (grpcio) and HTTP (http.server) on the
official opentelemetry-proto stubs, optionally over TLS (with or without requiring a client
certificate) and optionally requiring a bearer token.

Prints {"grpc_port": P, "http_port": Q} first, then one JSON line per request it accepted:
transport, signal, the authorization header, gzip (HTTP), the client certificate's common
name (mutual TLS), the `seq` attribute of every item, and every log record as JSON. Refused requests print a line with
"refused" and the reason, so a test can tell what the server saw.
"""
import argparse
import gzip
import json
import ssl
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as L
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as LG
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as M
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as MG
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as T
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as TG

ap = argparse.ArgumentParser()
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--client-ca", help="require a client certificate signed by this CA")
ap.add_argument("--token", help="require 'Authorization: Bearer <token>'")
args = ap.parse_args()

lock = threading.Lock()


def emit(obj):
    with lock:
        print(json.dumps(obj), flush=True)


def seqs(req):
    out = []

    def attrs(a):
        for kv in a:
            if kv.key == "seq":
                out.append(kv.value.int_value)

    for r in getattr(req, "resource_logs", []):
        for s in r.scope_logs:
            for x in s.log_records:
                attrs(x.attributes)
    for r in getattr(req, "resource_metrics", []):
        for s in r.scope_metrics:
            for m in s.metrics:
                for p in m.gauge.data_points:
                    attrs(p.attributes)
    for r in getattr(req, "resource_spans", []):
        for s in r.scope_spans:
            for x in s.spans:
                attrs(x.attributes)
    return out


def log_records(req):
    """Every log record of a logs request, as the proto JSON mapping writes it (field names as
    in the .proto), for tests that check records field by field."""
    if not hasattr(req, "resource_logs"):
        return None
    return [MessageToDict(x, preserving_proto_field_name=True)
            for r in req.resource_logs for s in r.scope_logs for x in s.log_records]


def token_ok(value):
    return args.token is None or value == "Bearer " + args.token


# ---- gRPC ----
def grpc_call(signal, request, context, response):
    md = dict(context.invocation_metadata())
    auth = md.get("authorization")
    cn = context.auth_context().get("x509_common_name", [b""])
    cn = cn[0].decode() if cn else ""
    if not token_ok(auth):
        emit({"transport": "grpc", "signal": signal, "refused": "token", "auth": auth})
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
    emit({"transport": "grpc", "signal": signal, "auth": auth, "client_cn": cn,
          "seqs": seqs(request), "log_records": log_records(request)})
    return response


class Logs(LG.LogsServiceServicer):
    def Export(self, request, context):
        return grpc_call("logs", request, context, L.ExportLogsServiceResponse())


class Metrics(MG.MetricsServiceServicer):
    def Export(self, request, context):
        return grpc_call("metrics", request, context, M.ExportMetricsServiceResponse())


class Traces(TG.TraceServiceServicer):
    def Export(self, request, context):
        return grpc_call("traces", request, context, T.ExportTraceServiceResponse())


server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
LG.add_LogsServiceServicer_to_server(Logs(), server)
MG.add_MetricsServiceServicer_to_server(Metrics(), server)
TG.add_TraceServiceServicer_to_server(Traces(), server)
if args.cert:
    chain = open(args.cert, "rb").read()
    key = open(args.key, "rb").read()
    root = open(args.client_ca, "rb").read() if args.client_ca else None
    creds = grpc.ssl_server_credentials([(key, chain)], root_certificates=root,
                                        require_client_auth=root is not None)
    grpc_port = server.add_secure_port("127.0.0.1:0", creds)
else:
    grpc_port = server.add_insecure_port("127.0.0.1:0")
server.start()

# ---- HTTP ----
KINDS = {"/v1/logs": ("logs", L.ExportLogsServiceRequest, L.ExportLogsServiceResponse),
         "/v1/metrics": ("metrics", M.ExportMetricsServiceRequest, M.ExportMetricsServiceResponse),
         "/v1/traces": ("traces", T.ExportTraceServiceRequest, T.ExportTraceServiceResponse)}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", ctype="application/x-protobuf"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path not in KINDS:
            return self.reply(404)
        signal, req_t, resp_t = KINDS[self.path]
        auth = self.headers.get("Authorization")
        if not token_ok(auth):
            emit({"transport": "http", "signal": signal, "refused": "token", "auth": auth})
            return self.reply(401, b"missing or wrong bearer token", "text/plain")
        gz = self.headers.get("Content-Encoding") == "gzip"
        if gz:
            body = gzip.decompress(body)
        req = req_t()
        req.ParseFromString(body)
        cn = ""
        peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        for rdn in (peer or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
        emit({"transport": "http", "signal": signal, "auth": auth, "gzip": gz,
              "client_cn": cn, "seqs": seqs(req), "log_records": log_records(req)})
        self.reply(200, resp_t().SerializeToString())


class TlsServer(ThreadingHTTPServer):
    """Handshakes in the request thread, so one stuck client does not block accepting."""

    def finish_request(self, request, client_address):
        if args.cert:
            try:
                request = ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                emit({"transport": "http", "refused": "tls", "error": str(e)})
                return
        super().finish_request(request, client_address)


if args.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.load_verify_locations(args.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
http = TlsServer(("127.0.0.1", 0), H)
emit({"grpc_port": grpc_port, "http_port": http.server_address[1]})
try:
    http.serve_forever()
except KeyboardInterrupt:
    pass
server.stop(0)
