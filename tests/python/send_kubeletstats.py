"""Sends a container's readings under the names kubeletstats and k8scluster use, one export
per step, with the OpenTelemetry Python SDK over OTLP/gRPC.

Usage: send_kubeletstats.py --endpoint URL --utilization 0.5,0.85 --restarts 2,2

Each step sets k8s.container.memory_limit_utilization, container.memory.working_set and
k8s.container.restarts (gauges, as those receivers emit them) and flushes once.
"""
import argparse
import time

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

LIMIT = 512 * 1024 * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--utilization", required=True)
    ap.add_argument("--restarts", required=True)
    ap.add_argument("--pause", type=float, default=0.3)
    args = ap.parse_args()
    utilization = [float(v) for v in args.utilization.split(",")]
    restarts = [int(v) for v in args.restarts.split(",")]
    if len(utilization) != len(restarts):
        raise SystemExit("--utilization and --restarts need as many steps")

    resource = Resource.create(
        {
            "service.name": "orders",
            "service.instance.id": "orders-0",
            "k8s.pod.name": "orders-0",
            "k8s.namespace.name": "shop",
            "k8s.container.name": "app",
        }
    )
    exporter = OTLPMetricExporter(endpoint=args.endpoint, insecure=True)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("kubeletstats-like")
    now = {"step": 0}

    def current(values):
        return lambda _options: [Observation(values[now["step"]])]

    meter.create_observable_gauge(
        "k8s.container.memory_limit_utilization", [current(utilization)], unit="1"
    )
    meter.create_observable_gauge(
        "container.memory.working_set",
        [current([int(u * LIMIT) for u in utilization])],
        unit="By",
    )
    meter.create_observable_gauge(
        "k8s.container.restarts", [current(restarts)], unit="{restart}"
    )
    for step in range(len(utilization)):
        now["step"] = step
        if not provider.force_flush(10_000):
            raise SystemExit(f"step {step}: the export did not finish")
        time.sleep(args.pause)
    provider.shutdown()


if __name__ == "__main__":
    main()
