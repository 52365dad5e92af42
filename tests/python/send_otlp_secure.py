"""Sends spans and log records with the OpenTelemetry Python SDK over TLS and/or with a bearer
token, and prints what each export returned, so a test can tell accepted from refused.

Usage: send_otlp_secure.py --protocol grpc|http --endpoint URL --run NAME [--first F] [--count N]
       [--ca CA.pem] [--client-cert C.pem --client-key K.pem] [--token T] [--plaintext]
       [--timeout SECONDS]

Every item carries the attributes test.run=NAME (resource) and seq (the span F, the log
records F..F+N). Prints one JSON line:
{"traces": "SUCCESS"|"FAILURE", "logs": ...}.
"""
import argparse
import json
import logging
import os

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor, LogRecordExporter

logging.basicConfig(level=logging.ERROR)


class Recording:
    """Wraps an exporter and keeps the result of every export."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, batch):
        r = self.inner.export(batch)
        self.results.append(r.name)
        return r

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


class RecSpans(Recording, SpanExporter):
    pass


class RecLogs(Recording, LogRecordExporter):
    pass


def read(path):
    return open(path, "rb").read() if path else None


def exporters(a):
    headers = {"authorization": "Bearer " + a.token} if a.token else None
    if a.protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        if a.plaintext:
            kw = dict(insecure=True)
        else:
            creds = grpc.ssl_channel_credentials(
                root_certificates=read(a.ca),
                private_key=read(a.client_key),
                certificate_chain=read(a.client_cert),
            )
            kw = dict(insecure=False, credentials=creds)
        kw.update(endpoint=a.endpoint, headers=headers, timeout=a.timeout)
        return OTLPSpanExporter(**kw), OTLPLogExporter(**kw)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    base = a.endpoint.rstrip("/")
    if a.ca:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the exporter's own
        # certificate_file; point them at our CA so the test does not depend on the machine.
        os.environ["REQUESTS_CA_BUNDLE"] = a.ca
        os.environ.pop("CURL_CA_BUNDLE", None)
    kw = dict(headers=headers, timeout=a.timeout)
    if a.ca:
        kw["certificate_file"] = a.ca
    if a.client_cert:
        kw["client_certificate_file"] = a.client_cert
        kw["client_key_file"] = a.client_key
    return (OTLPSpanExporter(endpoint=base + "/v1/traces", **kw),
            OTLPLogExporter(endpoint=base + "/v1/logs", **kw))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", choices=["grpc", "http"], required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--ca")
    ap.add_argument("--client-cert")
    ap.add_argument("--client-key")
    ap.add_argument("--token")
    ap.add_argument("--plaintext", action="store_true")
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds per export, retries included")
    a = ap.parse_args()

    resource = Resource.create({"service.name": "py-secure-sender", "test.run": a.run})
    span_exp, log_exp = exporters(a)
    spans, logs = RecSpans(span_exp), RecLogs(log_exp)

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tracer_provider.get_tracer("kafka-obs-test")
    with tracer.start_as_current_span("batch", attributes={"seq": a.first}):
        pass
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logger_provider.get_logger("kafka-obs-test")
    from opentelemetry._logs import LogRecord
    for i in range(a.count):
        logger.emit(LogRecord(body=f"record {i}", attributes={"seq": a.first + i}))
    tracer_provider.shutdown()
    logger_provider.shutdown()

    def verdict(results):
        return "SUCCESS" if results and all(r == "SUCCESS" for r in results) else "FAILURE"

    print(json.dumps({"traces": verdict(spans.results), "logs": verdict(logs.results)}), flush=True)


if __name__ == "__main__":
    main()
