#!/usr/bin/env bash
# Start an MLflow tracking server on the loopback interface for closureflow runs.
#
#   mlflow/server.sh                      # SQLite store ./mlflow-server/mlflow.db, port 5000
#   MLFLOW_BACKEND=postgresql://user:pw@127.0.0.1:5432/mlflow mlflow/server.sh
#   MLFLOW_PORT=5001 MLFLOW_HOST=127.0.0.1 mlflow/server.sh
#
# Then point closureflow at it:  export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
# Artifacts are proxied by the server (--serve-artifacts), so clients need no shared disk.
set -euo pipefail

host="${MLFLOW_HOST:-127.0.0.1}"
port="${MLFLOW_PORT:-5000}"
root="${MLFLOW_SERVER_ROOT:-$PWD/mlflow-server}"
backend="${MLFLOW_BACKEND:-sqlite:///$root/mlflow.db}"
artifacts="${MLFLOW_ARTIFACTS:-$root/artifacts}"

mkdir -p "$root" "$artifacts"
echo "MLflow server on http://$host:$port (backend ${backend%%:*}, artifacts $artifacts)" >&2
exec mlflow server \
    --host "$host" --port "$port" \
    --backend-store-uri "$backend" \
    --artifacts-destination "$artifacts" \
    --serve-artifacts \
    --workers "${MLFLOW_WORKERS:-2}"
