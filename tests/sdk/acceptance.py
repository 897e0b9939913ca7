"""Acceptance of obup by the official obshell Python SDK (obshell==0.0.9),
unmodified. Run by cli/tests/sdk.rs against `obup dev`:

    python acceptance.py SCENARIO PORT PASSWORD [RPM...]

Each scenario prints one `ok ...` line per check and exits non-zero on the
first failure.
"""

import sys

from obshell import ClientV1
from obshell.auth.password import PasswordAuth
from obshell.service.client_v1 import OBShellHandleError, TaskExecuteFailedError

TARGET = ("4.3.5.0", "100000202024123117.el7")


def check(cond, what):
    if not cond:
        print(f"FAILED {what}", flush=True)
        sys.exit(1)
    print(f"ok {what}", flush=True)


def expect_error(call, what):
    try:
        call()
    except OBShellHandleError as e:
        return e
    check(False, f"{what}: no error")


def happy(c, port, rpms):
    for rpm in rpms:
        check(c.upload_pkg(rpm) is None, f"upload_pkg {rpm.rsplit('/', 1)[-1]}")
    dag = c.upgrade_ob_check(*TARGET)
    check(dag.name.startswith("Upgrade check OB"), "upgrade_ob_check starts the check DAG")
    dag = c.wait_dag_succeed(dag.generic_id)
    check(dag.is_succeed(), "the check DAG succeeds")
    first = dag.nodes[0]
    node = c.get_node(first.generic_id)
    check(node.name == first.name and node.is_succeed(), f"get_node: {node.name}")
    task = c.get_sub_task(node.sub_tasks[0].generic_id)
    check(task.is_succeed() and task.execute_times == 1 and task.task_logs, f"get_sub_task on {task.execute_agent}")
    check(c.get_unfinished_dags() == [], "get_unfinished_dags: none")
    check(c.get_cluster_unfinished_dag() == [], "get_cluster_unfinished_dag: none")

    e = expect_error(lambda: c.upgrade_ob("4.4.0.0", "100000012025010101.el7", "ROLLING"), "missing package")
    check(e.err_code == "OB.Package.NotExist", f"a missing package is OB.Package.NotExist ({e.err_code})")

    wrong = ClientV1("127.0.0.1", port, auth=PasswordAuth("not-the-password"))
    e = expect_error(lambda: wrong.upgrade_ob(*TARGET, "ROLLING"), "wrong password")
    check(e.code == 10008, f"a wrong password is code 10008 ({e.code} {e.err_code})")

    dag = c.upgrade_ob(*TARGET, "rolling")
    check(dag.name == "OB rolling upgrade 4.3.5.0-100000202024123117.el7", f"upgrade_ob ROLLING: {dag.name}")
    dag = c.wait_dag_succeed(dag.generic_id)
    check(dag.is_succeed(), "the rolling upgrade succeeds")
    full = c.get_dag(dag.generic_id)
    check(len(full.nodes) == 48 and all(n.is_succeed() for n in full.nodes), f"get_dag shows {len(full.nodes)} succeeded stages (two hops)")


def stop_service_retry(c, port, rpms):
    for rpm in rpms:
        c.upload_pkg(rpm)
    dag = c.upgrade_ob(*TARGET, "STOPSERVICE")
    check(dag.name.startswith("OB stop service upgrade"), "upgrade_ob STOPSERVICE")
    try:
        c.wait_dag_succeed(dag.generic_id)
        check(False, "the injected failure fails the DAG")
    except TaskExecuteFailedError:
        check(True, "the injected failure fails the DAG")
    check(c.operate_dag_sync(dag.generic_id, "RETRY"), "operate_dag_sync RETRY: succeeded, RUN")


def rollback_cancel_pass(c, port, rpms):
    for rpm in rpms:
        c.upload_pkg(rpm)
    dag = c.upgrade_ob(*TARGET, "ROLLING")
    try:
        c.wait_dag_succeed(dag.generic_id)
    except TaskExecuteFailedError:
        pass
    check(c.operate_dag_sync(dag.generic_id, "ROLLBACK"), "operate_dag_sync ROLLBACK: succeeded, ROLLBACK")

    dag = c.upgrade_ob(*TARGET, "ROLLING")
    try:
        c.wait_dag_succeed(dag.generic_id)
    except TaskExecuteFailedError:
        pass
    check(c.operate_dag_sync(dag.generic_id, "CANCEL"), "operate_dag_sync CANCEL: failed, CANCEL")

    dag = c.upgrade_ob_check(*TARGET)
    try:
        c.wait_dag_succeed(dag.generic_id)
    except TaskExecuteFailedError:
        pass
    # SDK 0.0.9 bug: operate_dag_sync(..., "PASS") calls DagDetailDTO.is_pass(),
    # which that version does not define, so it raises AttributeError against
    # any server. Do what it means: operate, wait, check state and operator.
    check(c.operate_dag(dag.generic_id, "PASS"), "operate_dag PASS accepted")
    dag = c.wait_dag_succeed(dag.generic_id)
    check(dag.is_succeed() and dag.operator == "PASS", f"the passed DAG succeeded with operator {dag.operator}")


def rest(c, port, rpms):
    """The REST paths the SDK has no method for, with obshell's encryption
    done by hand (pycryptodome, which the SDK depends on)."""
    import base64
    import hashlib
    import json
    import os
    import time

    import requests
    from Crypto.Cipher import AES, PKCS1_v1_5
    from Crypto.PublicKey import RSA
    from Crypto.Util.Padding import pad

    base = f"http://127.0.0.1:{port}"
    key = RSA.import_key(base64.b64decode(requests.get(f"{base}/api/v1/secret").json()["data"]["public_key"]))
    password = sys.argv[3]

    def seal(data: bytes) -> str:
        cipher = PKCS1_v1_5.new(key)
        return base64.b64encode(b"".join(cipher.encrypt(data[i:i + 53]) for i in range(0, len(data), 53))).decode()

    def call(method, uri, body=None, headers=None, raw=None):
        aes, iv = os.urandom(16), os.urandom(16)
        header = {"auth": password, "ts": str(int(time.time()) + 60), "uri": uri,
                  "keys": base64.b64encode(aes + iv).decode()}
        h = {"X-OCS-Header": seal(json.dumps(header).encode())}
        h.update(headers or {})
        data = raw
        if body is not None:
            data = base64.b64encode(AES.new(aes, AES.MODE_CBC, iv).encrypt(pad(json.dumps(body).encode(), 16)))
        r = requests.request(method, base + uri, data=data, headers=h)
        j = r.json()
        assert j["status"] == r.status_code, j
        return r.status_code, j

    boundary = "0123456789abcdef0123456789abcdef"
    ct = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    def form(path):
        body = open(path, "rb").read()
        head = f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.rsplit('/', 1)[-1]}\"\r\n\r\n"
        return body, head.encode() + body + f"\r\n--{boundary}--\r\n".encode()

    for rpm in rpms:
        payload, body = form(rpm)
        sha = hashlib.sha256(payload).hexdigest()
        status, j = call("POST", "/api/v1/package", raw=body, headers={**ct, "X-OCS-File-SHA256": seal(sha.encode())})
        check(status == 200 and "pkg_id" in j["data"], f"POST /api/v1/package {j['data'].get('name')} (plain multipart, SHA-256 header)")
    status, j = call("POST", "/api/v1/package", raw=body, headers={**ct, "X-OCS-File-SHA256": seal(("0" * 64).encode())})
    check(status == 401 and j["error"]["errCode"] == "Security.Authentication.File.Sha256Mismatch", "a wrong file SHA-256 is refused")

    status, j = call("GET", "/api/v1/upgrade/package/info")
    listed = j["data"]["contents"]
    check(status == 200 and listed and listed[0]["upgrade_dep_yaml"] == "", f"GET /api/v1/upgrade/package/info lists {len(listed)}")
    status, j = call("POST", "/api/v1/ob/upgrade/check", body={"version": TARGET[0], "release": TARGET[1], "upgradeDir": None})
    dag_id = j["data"]["id"]
    check(status == 200 and dag_id.startswith("1"), f"POST /api/v1/ob/upgrade/check -> {dag_id}")
    for _ in range(100):
        status, j = call("GET", f"/api/v1/task/dag/{dag_id}?show_details=True")
        if j["data"]["state"] in ("SUCCEED", "FAILED"):
            break
        time.sleep(0.1)
    node = j["data"]["nodes"][0]
    task = node["sub_tasks"][0]
    status, j = call("GET", f"/api/v1/task/sub_task/{task['id']}/logs")
    check(status == 200 and j["data"]["contents"][0]["log_content"], "GET /api/v1/task/sub_task/{id}/logs")
    status, j = call("POST", f"/api/v1/task/node/{node['id']}", body={"operator": "PASS"})
    check(status == 400 and j["error"]["errCode"] == "Task.Node.Operator.PassNotFailedDag", f"POST /api/v1/task/node/{{id}} PASS refused ({j['error']['errCode']})")
    status, j = call("GET", "/api/v1/task/dag/maintain/ob")
    check(status == 404 and j["error"]["errCode"] == "Task.NotFound", "no maintenance DAG yet")
    status, j = call("DELETE", "/api/v1/upgrade/package/abc")
    check(status == 400 and j["error"]["errCode"] == "Request.Query.Param.Illegal", "DELETE with a bad id")
    status, j = call("DELETE", f"/api/v1/upgrade/package/{listed[-1]['pkg_id']}")
    check(status == 200 and "data" not in j, "DELETE /api/v1/upgrade/package/{id}")

    status, j = call("GET", "/api/v1/upgrade/package/info")
    check(len(j["data"]["contents"]) == len(listed) - 1, "the deleted package is gone")
    status, j = call("GET", "/api/v1/no/such/path")
    check(status == 404 and j["error"]["errCode"] == "Common.NotFound", "404 is an envelope")


def main():
    scenario, port, password, rpms = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    client = ClientV1("127.0.0.1", port, auth=PasswordAuth(password))
    scenarios = {
        "happy": happy,
        "stop_service_retry": stop_service_retry,
        "rollback_cancel_pass": rollback_cancel_pass,
        "rest": rest,
    }
    scenarios[scenario](
        client, port, rpms
    )
    print("done", flush=True)


if __name__ == "__main__":
    main()
