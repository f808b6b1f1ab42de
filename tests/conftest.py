"""Test-session environment: private Prefect home and MLflow store, float64 physics.

Set at import time, before any test module imports prefect or mlflow, so no test touches the
user's ~/.prefect or ./mlflow.db.
"""

import logging
import os
import tempfile
from pathlib import Path

SESSION_DIR = Path(tempfile.mkdtemp(prefix="closureflow-tests-"))
os.environ["PREFECT_HOME"] = str(SESSION_DIR / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "300"
os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{SESSION_DIR / 'mlflow.db'}"
os.environ.pop("PREFECT_API_URL", None)
# Prefect logs while its temporary server shuts down at exit, after pytest has closed the
# captured streams; without this, logging prints a harmless "I/O operation on closed file".
logging.raiseExceptions = False

import physics  # noqa: E402,F401  (switches JAX to float64 before any array exists)
