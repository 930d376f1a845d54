"""Runs inside Airflow's interpreter (``python -c``): look connection ids up in Airflow's own order.

Not imported by the console. Reads ``{"ids": [...]}`` on stdin and writes one JSON object to the
stdout pipe, which is the only place secrets go. Anything Airflow itself prints is moved to stderr
first so it cannot corrupt the answer. Backends are walked as ``Connection.get_connection_from_secrets``
walks them, recording which one answered and what each of the others said.
"""

import json
import os
import sys


def main():
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    request = json.loads(sys.stdin.read())
    try:
        import airflow
        from airflow.configuration import ensure_secrets_loaded

        backends = ensure_secrets_loaded()
    except Exception as exc:  # noqa: BLE001 - any failure to load Airflow is the answer
        json.dump({"error": f"cannot load Airflow: {type(exc).__name__}: {_line(exc)}"}, answer)
        return
    results = {}
    for conn_id in request["ids"]:
        results[conn_id] = _lookup(backends, conn_id)
    json.dump({"airflow_version": getattr(airflow, "__version__", "?"), "results": results}, answer)
    answer.flush()


def _lookup(backends, conn_id):
    tried = []
    for backend in backends:
        path = f"{type(backend).__module__}.{type(backend).__name__}"
        try:
            conn = backend.get_connection(conn_id=conn_id)
        except Exception as exc:  # noqa: BLE001 - Airflow logs and moves on; so do we, keeping the reason
            if type(exc).__name__ == "AirflowSecretsBackendAccessDenied":
                return {"denied": f"{path}: access denied ({_line(exc)})", "tried": tried}
            tried.append({"backend": path, "error": f"{type(exc).__name__}: {_line(exc)}"})
            continue
        if conn:
            fields = {
                "conn_type": conn.conn_type, "host": conn.host, "port": conn.port, "login": conn.login,
                "password": conn.password, "schema": conn.schema, "extra": conn.extra,
            }
            return {"backend": path, "fields": fields, "tried": tried}
        tried.append({"backend": path, "error": None})
    return {"tried": tried}


def _line(exc):
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


if __name__ == "__main__":
    main()
