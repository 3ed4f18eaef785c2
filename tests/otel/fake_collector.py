"""A minimal OTLP/gRPC trace collector for tests/otel/check.sh: prints one
line per received span, `name status_code`, to stdout as they arrive."""

import sys
import time
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attrs = {a.key: a.value for a in span.attributes}
                    code = attrs["rpc.grpc.status_code"].int_value if "rpc.grpc.status_code" in attrs else "-"
                    print(span.name, code, flush=True)
        return trace_service_pb2.ExportTraceServiceResponse()


server = grpc.server(futures.ThreadPoolExecutor(4))
trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
server.add_insecure_port(sys.argv[1])
server.start()
time.sleep(float(sys.argv[2]))
