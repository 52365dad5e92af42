"""An application that logs its exceptions through the OpenTelemetry Python SDK (the stdlib
`logging` bridge, `logger.exception(...)` inside `except`), exported as OTLP logs over gRPC.
The SDK itself sets `exception.type`, `exception.message` and `exception.stacktrace` and
severity ERROR; nothing here builds those attributes by hand.

Usage: app_exceptions.py --endpoint URL --instance ID --phases SPEC --out phases.json

SPEC is a comma-separated list of `name:seconds:per_second:types`: for `seconds`, raise and log
`per_second` exceptions a second, cycling over the `types` (`+`-separated class names, made at
start). A phase with seconds 0 logs `per_second` exceptions at once (a burst). --out gets
each phase's start and end (ns since the epoch), written when the run ends.
"""
import argparse
import json
import logging
import time

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--instance", required=True)
    ap.add_argument("--phases", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    resource = Resource.create(
        {"service.name": "checkout", "service.instance.id": args.instance}
    )
    provider = LoggerProvider(resource=resource)
    # One export per record, as it happens: the connector sees errors when they occur.
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=args.endpoint, insecure=True))
    )
    logger = logging.getLogger("checkout.orders")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))

    classes = {}

    def exception_class(name):
        if name not in classes:
            classes[name] = type(name, (Exception,), {})
        return classes[name]

    order = 0

    def fail(name):
        nonlocal order
        order += 1
        try:
            raise exception_class(name)(f"order {order} rejected by {name}")
        except Exception:
            logger.exception("placing order %d failed", order)

    spans = []
    for spec in args.phases.split(","):
        name, seconds, per_second, types = spec.split(":")
        seconds, per_second = float(seconds), float(per_second)
        types = types.split("+")
        start = time.time_ns()
        if seconds == 0:
            for i in range(int(per_second)):
                fail(types[i % len(types)])
        else:
            n = int(seconds * per_second)
            for i in range(n):
                due = start + int(i * 1e9 / per_second)
                delay = (due - time.time_ns()) / 1e9
                if delay > 0:
                    time.sleep(delay)
                fail(types[i % len(types)])
            end_due = start + int(seconds * 1e9)
            delay = (end_due - time.time_ns()) / 1e9
            if delay > 0:
                time.sleep(delay)
        logger.info("phase %s done", name)
        spans.append({"name": name, "start": start, "end": time.time_ns()})
    provider.shutdown()
    with open(args.out, "w") as f:
        json.dump(spans, f)


if __name__ == "__main__":
    main()
