"""Sends numbered log records with the OpenTelemetry Python SDK's OTLP exporter, one export in
flight at a time (as the SDK's processors do), and records which numbers were acknowledged.

Usage: send_logs_numbered.py --protocol grpc|http --endpoint URL --first N --batch B
         (--count C | --until-file PATH) --out result.json

Each export carries B records whose attribute `seq` counts up from --first. The exporter's
own retries (UNAVAILABLE / 503 with backoff) are the resends. --out gets
{"ok": [...], "failed": [...], "exports_ok": n, "exports_failed": n}: a number is "ok" when
the export carrying it returned SUCCESS, so every "ok" number must reach the backend.
"""
import argparse
import json
import os
import time

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope


def exporter(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(endpoint=endpoint.rstrip("/") + "/v1/logs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--count", type=int)
    ap.add_argument("--until-file")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    exp = exporter(args.protocol, args.endpoint)
    resource = Resource.create({"service.name": "reload-sender", "protocol": args.protocol})
    scope = InstrumentationScope("kafka-obs-reload-test")
    ok, failed = [], []
    exports_ok = exports_failed = 0
    seq = args.first
    while True:
        if args.count is not None and seq - args.first >= args.count:
            break
        if args.until_file and os.path.exists(args.until_file):
            break
        numbers = list(range(seq, seq + args.batch))
        seq += args.batch
        now = time.time_ns()
        batch = [
            ReadableLogRecord(
                log_record=LogRecord(
                    timestamp=now,
                    observed_timestamp=now,
                    body=f"record {n}",
                    severity_number=SeverityNumber.INFO,
                    severity_text="INFO",
                    attributes={"seq": n},
                ),
                resource=resource,
                instrumentation_scope=scope,
            )
            for n in numbers
        ]
        if exp.export(batch) == LogRecordExportResult.SUCCESS:
            ok.extend(numbers)
            exports_ok += 1
        else:
            failed.extend(numbers)
            exports_failed += 1
    exp.shutdown()
    with open(args.out, "w") as f:
        json.dump(
            {"ok": ok, "failed": failed, "exports_ok": exports_ok, "exports_failed": exports_failed},
            f,
        )


if __name__ == "__main__":
    main()
