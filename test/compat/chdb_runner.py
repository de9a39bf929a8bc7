"""Runs statements on current ClickHouse, in process, through chdb.

stdin:  {"groups": [[statement, ...], ...]}
        statement = {"kind": "query" | "command", "text": str, "database": str}
                  | {"kind": "insert", "table": str, "body": str, "database": str}
        (body is the JSONEachRow text our client sends, one row per line)
stdout: {"groups": [[{"ok": bool, "error"?: str, "output"?: str}, ...], ...]}
        (output is the raw JSONEachRow text of a query)

Each group runs in one fresh chdb session on a temporary path, so databases and tables persist
from statement to statement within the group and nothing leaks between groups. A failing
statement is reported and the group goes on; only a failure of the runner itself exits non-zero.
"""

import json
import shutil
import sys
import tempfile

from chdb import session as chdb_session


def quote_ident(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def run_group(statements):
    path = tempfile.mkdtemp(prefix="faasmeter-chdb-")
    results = []
    sess = chdb_session.Session(path)
    try:
        # Our client pins this on every request; chdb's default differs from the servers'.
        sess.query("SET output_format_json_quote_64bit_integers = 1")
        current = None
        for statement in statements:
            try:
                database = statement.get("database") or "default"
                if database != current:
                    sess.query("CREATE DATABASE IF NOT EXISTS " + quote_ident(database))
                    sess.query("USE " + quote_ident(database))
                    current = database
                kind = statement["kind"]
                if kind == "query":
                    output = sess.query(statement["text"], "JSONEachRow").bytes().decode("utf-8")
                    results.append({"ok": True, "output": output})
                elif kind == "command":
                    sess.query(statement["text"], "JSONEachRow")
                    results.append({"ok": True})
                elif kind == "insert":
                    body = statement["body"]
                    sess.query("INSERT INTO " + statement["table"] + " FORMAT JSONEachRow\n" + body)
                    results.append({"ok": True})
                else:
                    results.append({"ok": False, "error": "unknown statement kind " + repr(kind)})
            except Exception as error:  # one statement's failure is a result, not a crash
                results.append({"ok": False, "error": str(error)})
    finally:
        sess.close()
        shutil.rmtree(path, ignore_errors=True)
    return results


def main():
    request = json.load(sys.stdin)
    groups = [run_group(group) for group in request["groups"]]
    sys.stdout.write("\n" + json.dumps({"groups": groups}) + "\n")


if __name__ == "__main__":
    main()
