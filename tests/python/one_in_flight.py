"""Exports spans and log records with the OpenTelemetry Python SDK, one export in flight.

Usage: one_in_flight.py --protocol grpc|http --endpoint URL --run NAME --exports N
                        --items K --out results.json

The SDK's batch processors keep one export in flight and wait for its answer before the next;
this does the same with the SDK's own OTLP exporters (called one after another), so every
export's outcome and latency can be recorded. Each span and log record carries the attribute
`run=NAME` and its sequence number, so the receiving side can count what arrived per run.
Writes {"traces": [...], "logs": [...]} with one {"ok": bool, "ms": float} per export.
"""
import argparse
import json
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)


def exporters(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return (
            OTLPSpanExporter(endpoint=endpoint, insecure=True),
            OTLPLogExporter(endpoint=endpoint, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    base = endpoint.rstrip("/")
    return (
        OTLPSpanExporter(endpoint=base + "/v1/traces"),
        OTLPLogExporter(endpoint=base + "/v1/logs"),
    )


def finished_spans(resource, run, count):
    """`count` ended spans made by the SDK, collected in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("one-in-flight")
    for seq in range(count):
        with tracer.start_as_current_span("work", attributes={"run": run, "seq": seq}):
            pass
    return list(memory.get_finished_spans())


def finished_logs(resource, run, count):
    """`count` emitted log records made by the SDK, collected in memory."""
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger("one-in-flight")
    for seq in range(count):
        logger.emit(body="event %d" % seq, attributes={"run": run, "seq": seq})
    return list(memory.get_finished_logs())


def export_one_at_a_time(exporter, items, per_export, success):
    results = []
    for start in range(0, len(items), per_export):
        began = time.perf_counter()
        outcome = exporter.export(items[start : start + per_export])
        results.append({"ok": outcome == success, "ms": (time.perf_counter() - began) * 1000})
        if outcome != success:
            break  # one failure is enough to report; the rest would each wait for the timeout
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--exports", type=int, default=20)
    ap.add_argument("--items", type=int, default=5)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    resource = Resource.create({"service.name": "one-in-flight"})
    span_exporter, log_exporter = exporters(args.protocol, args.endpoint)
    total = args.exports * args.items
    spans = finished_spans(resource, args.run, total)
    logs = finished_logs(resource, args.run, total)
    results = {
        "traces": export_one_at_a_time(span_exporter, spans, args.items, SpanExportResult.SUCCESS),
        "logs": export_one_at_a_time(log_exporter, logs, args.items, LogRecordExportResult.SUCCESS),
    }
    span_exporter.shutdown()
    log_exporter.shutdown()
    with open(args.out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
