"""An OTLP/gRPC receiver on a port the test chooses, built on the official opentelemetry-proto
stubs: an independent decoder of what our exporter put on the wire.

Usage: otlp_dump_receiver.py --port P [--ids ATTR]

Prints {"listening": P} once serving, then one JSON line per request: the signal and either
the whole request (protobuf's own JSON mapping, MessageToDict) or, with --ids, only the
integer values of attribute ATTR on every data point (fast enough for floods).
"""
import argparse
import json
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as L
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc as LG
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as M
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as MG
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as T
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as TG

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--ids")
args = ap.parse_args()
lock = threading.Lock()


def emit(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def ids(req):
    out = []
    for r in req.resource_metrics:
        for s in r.scope_metrics:
            for m in s.metrics:
                for p in m.gauge.data_points:
                    out.extend(kv.value.int_value for kv in p.attributes if kv.key == args.ids)
    return out


def record(signal, request):
    if args.ids:
        emit({"signal": signal, "ids": ids(request)})
    else:
        emit({"signal": signal, "request": MessageToDict(request)})


class Logs(LG.LogsServiceServicer):
    def Export(self, request, context):
        record("logs", request)
        return L.ExportLogsServiceResponse()


class Metrics(MG.MetricsServiceServicer):
    def Export(self, request, context):
        record("metrics", request)
        return M.ExportMetricsServiceResponse()


class Traces(TG.TraceServiceServicer):
    def Export(self, request, context):
        record("traces", request)
        return T.ExportTraceServiceResponse()


server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                     options=[("grpc.max_receive_message_length", 64 << 20)])
LG.add_LogsServiceServicer_to_server(Logs(), server)
MG.add_MetricsServiceServicer_to_server(Metrics(), server)
TG.add_TraceServiceServicer_to_server(Traces(), server)
server.add_insecure_port(f"127.0.0.1:{args.port}")
server.start()
emit({"listening": args.port})
server.wait_for_termination()
