"""deploy/kubernetes/, checked offline (no cluster): every field against the
Kubernetes API schema (the models of Debian's python3-kubernetes: an unknown
or misspelt field, a wrong type or a missing required field fails), then the
rules the README promises (least privilege, one container, references that
resolve), then yamllint. `kubectl kustomize` renders them too when kubectl is
installed (it is not a Debian package). The same manifests run for real
under podman in test_daemonset.py."""

import re
import shutil
import subprocess

import pytest
import yaml

import manifest_to_podman as m2p

kubernetes = pytest.importorskip("kubernetes", reason="python3-kubernetes is not installed "
                                 "(make test-container installs it)")
from kubernetes import client  # noqa: E402

NAME = "metrist-orchestrator-ebpf-plugin"
MODELS = {("v1", "Namespace"): "V1Namespace", ("v1", "ServiceAccount"): "V1ServiceAccount",
          ("v1", "ConfigMap"): "V1ConfigMap", ("apps/v1", "DaemonSet"): "V1DaemonSet"}
SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def schema_errors(obj, type_name, path):
    """Every field of obj against the python3-kubernetes model type_name."""
    if type_name in SCALARS:
        ok = isinstance(obj, SCALARS[type_name]) and not (type_name == "int" and isinstance(obj, bool))
        return [] if ok else ["%s: %r is not a %s" % (path, obj, type_name)]
    if type_name == "object":  # IntOrString, quantities, free form
        return []
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        if not isinstance(obj, list):
            return ["%s: expected a list" % path]
        return [e for i, item in enumerate(obj) for e in schema_errors(item, m[1], "%s[%d]" % (path, i))]
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        if not isinstance(obj, dict):
            return ["%s: expected a map" % path]
        return [e for k, v in obj.items() for e in schema_errors(v, m[1], "%s.%s" % (path, k))]
    cls = getattr(client, type_name)
    if not isinstance(obj, dict):
        return ["%s: expected a %s object" % (path, type_name)]
    by_json = {json: attr for attr, json in cls.attribute_map.items()}
    errors = []
    for key, value in obj.items():
        if key not in by_json:
            errors.append("%s.%s: no such field in %s" % (path, key, type_name))
        else:
            errors += schema_errors(value, cls.openapi_types[by_json[key]], "%s.%s" % (path, key))
    return errors


def documents():
    docs = m2p.load()
    return [d for kind in docs.values() for d in kind]


def test_schema():
    docs = documents()
    assert {d["kind"] for d in docs} == {"Namespace", "ServiceAccount", "ConfigMap", "DaemonSet"}
    api = client.ApiClient()
    for d in docs:
        model = MODELS.get((d.get("apiVersion"), d.get("kind")))
        assert model, "unexpected apiVersion/kind %s/%s" % (d.get("apiVersion"), d.get("kind"))
        errors = schema_errors(d, model, d["kind"])
        assert not errors, "\n".join(errors)
        # Required fields (the models refuse to be built without them).
        api._ApiClient__deserialize(d, model)


def test_least_privilege_and_references():
    docs = m2p.load()
    ds = m2p.one(docs, "DaemonSet")
    ns = m2p.one(docs, "Namespace")["metadata"]["name"]
    for d in documents():
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == ns, "%s not in namespace %s" % (d["kind"], ns)
    tpl = ds["spec"]["template"]
    pod = tpl["spec"]
    labels = tpl["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in ds["spec"]["selector"]["matchLabels"].items())
    assert pod["hostPID"] is True
    assert not pod.get("hostNetwork") and not pod.get("hostIPC")
    assert {"operator": "Exists"} in pod["tolerations"], "must tolerate every taint"
    assert pod["priorityClassName"] == "system-node-critical"
    sa = m2p.one(docs, "ServiceAccount")
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == {"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"}
    assert sc["seccompProfile"] == {"type": "Unconfined"}
    assert tpl["metadata"]["annotations"] == {
        "container.apparmor.security.beta.kubernetes.io/%s" % c["name"]: "unconfined"}
    # Only the control socket's emptyDir is mounted; no host path at all.
    assert [v for v in pod["volumes"] if "hostPath" in v] == []
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/run/%s" % NAME]
    assert c["livenessProbe"]["exec"]["command"] == ["/usr/bin/%s" % NAME, "health"]
    lim, req = c["resources"]["limits"], c["resources"]["requests"]
    assert "cpu" not in lim, "a CPU limit throttles the daemon past new processes' first calls"
    assert m2p.quantity_bytes(req["memory"]) <= m2p.quantity_bytes(lim["memory"])
    # The endpoint comes from the ConfigMap, and is a valid <host>:<port>.
    (env,) = c["env"]
    ref = env["valueFrom"]["configMapKeyRef"]
    cm = m2p.one(docs, "ConfigMap")
    assert env["name"] == "METRIST_ORCHESTRATOR_ENDPOINT" and ref["name"] == cm["metadata"]["name"]
    assert re.fullmatch(r"[a-z0-9.-]+:[0-9]{1,5}", cm["data"][ref["key"]])
    # PSA must admit hostPID and the capabilities.
    assert m2p.one(docs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == \
        "privileged"
    # The translation for podman covers every setting (it raises otherwise).
    m2p.translate()


def test_kustomization_lists_every_manifest():
    k = yaml.safe_load((m2p.MANIFESTS / "kustomization.yaml").read_text())
    files = sorted(p.name for p in m2p.MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(k["resources"]) == files
    assert [i["name"] for i in k["images"]] == [NAME]


def test_yamllint():
    if not shutil.which("yamllint"):
        pytest.skip("yamllint is not installed (make test-container installs it)")
    conf = "{extends: default, rules: {line-length: {max: 110}, document-start: disable}}"
    r = subprocess.run(["yamllint", "-s", "-d", conf, str(m2p.MANIFESTS)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_kubectl_kustomize_renders():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("\nNOTE: kubectl is not installed (not a Debian package): kustomize rendering not checked")
        return
    r = subprocess.run([kubectl, "kustomize", str(m2p.MANIFESTS)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert len(rendered) == 4
    ds = [d for d in rendered if d["kind"] == "DaemonSet"][0]
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"].endswith("/%s:latest" % NAME)


def test_schema_check_catches_mistakes():
    """The check itself: a misspelt field, a wrong type and a missing
    required field in a copy of the DaemonSet are each found."""
    import copy
    ds = m2p.one(m2p.load(), "DaemonSet")
    api = client.ApiClient()

    def container(d):
        return d["spec"]["template"]["spec"]["containers"][0]

    bad = copy.deepcopy(ds)
    container(bad)["securityContext"]["readOnlyRootFileSystem"] = True
    assert any("readOnlyRootFileSystem: no such field" in e for e in schema_errors(bad, "V1DaemonSet", "ds"))
    bad = copy.deepcopy(ds)
    bad["spec"]["template"]["spec"]["hostPID"] = "true"
    assert any("hostPID" in e for e in schema_errors(bad, "V1DaemonSet", "ds"))
    bad = copy.deepcopy(ds)
    del container(bad)["name"]
    with pytest.raises(ValueError):
        api._ApiClient__deserialize(bad, "V1DaemonSet")
