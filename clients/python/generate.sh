#!/usr/bin/env bash
# Generates the Python stubs from ../../proto with grpcio-tools into
# ./generated (not committed: the protos are the source of truth).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf generated
mkdir -p generated
python3 -m grpc_tools.protoc \
  -I ../../proto \
  --python_out=generated --grpc_python_out=generated --pyi_out=generated \
  $(cd ../../proto && ls pulse/v1/*.proto) google/rpc/error_details.proto
echo "generated $(find generated -name '*_pb2*.py' | wc -l) modules in $(pwd)/generated"
