"""Sends a known set of metrics, logs and spans with the OpenTelemetry Python SDK.

Usage: send_otlp.py --protocol grpc|http --endpoint URL [--gzip] --out expected.json

Writes what it sent (names, attributes, values, timestamps, ids) to --out so the Rust test can
check that every item arrived intact at the collector's file exporter.
"""
import argparse
import json
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry._logs import SeverityNumber
from opentelemetry.metrics import Observation


def exporters(protocol, endpoint, gzip):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.exporter import Compression

        c = Compression.Gzip if gzip else Compression.NoCompression
        kw = dict(endpoint=endpoint, insecure=True, compression=c)
        return OTLPMetricExporter(**kw), OTLPSpanExporter(**kw), OTLPLogExporter(**kw)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http import Compression

    c = Compression.Gzip if gzip else Compression.NoCompression
    base = endpoint.rstrip("/")
    return (
        OTLPMetricExporter(endpoint=base + "/v1/metrics", compression=c),
        OTLPSpanExporter(endpoint=base + "/v1/traces", compression=c),
        OTLPLogExporter(endpoint=base + "/v1/logs", compression=c),
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--run", required=True)
    args = ap.parse_args()

    resource = Resource.create({"service.name": "py-sender", "test.run": args.run})
    metric_exp, span_exp, log_exp = exporters(args.protocol, args.endpoint, args.gzip)

    # Metrics: a counter with two series, a histogram, an observable gauge.
    reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meters.get_meter("kafka-obs-test")
    orders = meter.create_counter("orders.processed", unit="1", description="orders")
    orders.add(5, {"shop": "eu"})
    orders.add(7, {"shop": "us"})
    latency = meter.create_histogram("checkout.latency", unit="ms")
    for v in (12.5, 40.0, 250.0):
        latency.record(v, {"route": "/pay"})
    meter.create_observable_gauge(
        "queue.depth", callbacks=[lambda _opts: [Observation(42.5, {"queue": "q1"})]]
    )
    before = time.time_ns()
    meters.force_flush()
    meters.shutdown()

    # Logs with explicit timestamps and attributes of several types.
    logs = LoggerProvider(resource=resource)
    logs.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
    logger = logs.get_logger("kafka-obs-test")
    t0 = 1_700_000_000_000_000_000
    sent_logs = []
    for i in range(10):
        attrs = {"i": i, "kind": "test", "ratio": i / 4, "ok": i % 2 == 0}
        logger.emit(
            timestamp=t0 + i,
            body=f"log line {i}",
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            attributes=attrs,
        )
        sent_logs.append({"time": t0 + i, "body": f"log line {i}", "attributes": attrs})
    logs.shutdown()

    # Spans: a parent with two children.
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exp))
    tracer = tracer_provider.get_tracer("kafka-obs-test")
    sent_spans = []
    spans = []
    with tracer.start_as_current_span("checkout", attributes={"order.id": "o-123"}) as parent:
        spans.append(parent)
        for step in ("validate", "pay"):
            with tracer.start_as_current_span(step, attributes={"step": step, "attempt": 1}) as child:
                spans.append(child)
    for s in spans:
        ctx = s.get_span_context()
        sent_spans.append(
            {
                "name": s.name,
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": format(s.parent.span_id, "016x") if s.parent else "",
                "start": s.start_time,
                "end": s.end_time,
                "attributes": dict(s.attributes),
            }
        )
    tracer_provider.shutdown()

    with open(args.out, "w") as f:
        json.dump(
            {
                "metrics_collected_before_ns": before,
                "counter": {"eu": 5, "us": 7},
                "histogram": {"count": 3, "sum": 302.5},
                "gauge": 42.5,
                "logs": sent_logs,
                "spans": sent_spans,
            },
            f,
        )


if __name__ == "__main__":
    main()
