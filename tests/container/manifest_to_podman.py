#!/usr/bin/python3
"""The DaemonSet of deploy/kubernetes/, translated into `podman run` flags, so
that the container tests run the image with exactly the manifest's settings
and the two cannot drift.

    manifest_to_podman.py [DIR] [--env NAME=VALUE ...]   prints the flags, one a line

Every setting of the pod and of its container is either translated or named
below as having no effect on a single node (scheduling, API access); anything
else is an error, so a setting added to the manifest without a translation
fails the tests instead of being dropped silently. What the machine itself
needs (runtime, rlimits) is not the manifest's business: the tests add it
(../shared/FACTS.md "Containers on this machine").
"""

import os
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent.parent
MANIFESTS = REPO / "deploy" / "kubernetes"

# No effect on how one node runs the container.
POD_NO_RUNTIME_EFFECT = {"serviceAccountName", "automountServiceAccountToken", "enableServiceLinks",
                         "priorityClassName", "tolerations", "nodeSelector", "affinity"}
CONTAINER_NO_RUNTIME_EFFECT = {"name", "image", "imagePullPolicy", "livenessProbe", "readinessProbe",
                               "startupProbe"}


class ManifestError(Exception):
    pass


def load(directory=MANIFESTS):
    """{kind: [documents]} of every *.yaml in directory (kustomization aside)."""
    docs = {}
    for f in sorted(Path(directory).glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(f.read_text()):
            if doc:
                docs.setdefault(doc["kind"], []).append(doc)
    return docs


def one(docs, kind):
    found = docs.get(kind, [])
    if len(found) != 1:
        raise ManifestError("expected exactly one %s, found %d" % (kind, len(found)))
    return found[0]


def quantity_bytes(q):
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|k|M|G)?", str(q))
    if not m:
        raise ManifestError("memory quantity %r not understood" % q)
    mult = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "k": 10 ** 3, "M": 10 ** 6,
            "G": 10 ** 9}[m[2]]
    return int(m[1]) * mult


def quantity_cpus(q):
    s = str(q)
    return int(s[:-1]) / 1000 if s.endswith("m") else float(s)


def unknown(what, keys, known):
    extra = set(keys) - set(known)
    if extra:
        raise ManifestError("%s: no podman translation for %s (add one to %s)"
                            % (what, sorted(extra), Path(__file__).name))


def apparmor_enabled():
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().strip() == "Y"
    except OSError:
        return False


def env_flags(container, docs, overrides):
    flags = []
    configmaps = {c["metadata"]["name"]: c.get("data", {}) for c in docs.get("ConfigMap", [])}
    for e in container.get("env", []):
        unknown("env %s" % e["name"], e, {"name", "value", "valueFrom"})
        if "value" in e:
            value = e["value"]
        else:
            ref = e["valueFrom"].get("configMapKeyRef")
            if not ref or set(e["valueFrom"]) != {"configMapKeyRef"}:
                raise ManifestError("env %s: only configMapKeyRef is translated" % e["name"])
            if ref["name"] not in configmaps or ref["key"] not in configmaps[ref["name"]]:
                raise ManifestError("env %s: ConfigMap %s has no key %s"
                                    % (e["name"], ref["name"], ref["key"]))
            value = configmaps[ref["name"]][ref["key"]]
        value = overrides.get(e["name"], value)
        flags.append("--env=%s=%s" % (e["name"], value))
    return flags


def security_flags(sc):
    unknown("securityContext", sc, {"privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem",
                                    "runAsUser", "runAsGroup", "runAsNonRoot", "capabilities",
                                    "seccompProfile"})
    flags = []
    if sc.get("privileged"):
        flags.append("--privileged")
    if sc.get("allowPrivilegeEscalation") is False:
        flags.append("--security-opt=no-new-privileges")
    if sc.get("readOnlyRootFilesystem"):
        # Kubernetes mounts nothing writable by itself: nor does podman then.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if "runAsUser" in sc:
        flags.append("--user=%d:%d" % (sc["runAsUser"], sc.get("runAsGroup", 0)))
    caps = sc.get("capabilities", {})
    unknown("capabilities", caps, {"drop", "add"})
    for c in caps.get("drop", []):
        flags.append("--cap-drop=%s" % ("all" if c == "ALL" else "CAP_" + c))
    for c in caps.get("add", []):
        flags.append("--cap-add=CAP_%s" % c)
    seccomp = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        flags.append("--security-opt=seccomp=unconfined")
    elif seccomp != "RuntimeDefault":
        raise ManifestError("seccompProfile %s: not translated" % seccomp)
    return flags


def volume_flags(container, pod):
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    flags = []
    for m in container.get("volumeMounts", []):
        unknown("volumeMount %s" % m["name"], m, {"name", "mountPath", "readOnly"})
        v = volumes[m["name"]]
        ro = ",ro=true" if m.get("readOnly") else ""
        if "emptyDir" in v:
            opts = "type=tmpfs,destination=%s,tmpfs-mode=0700" % m["mountPath"]
            size = v["emptyDir"].get("sizeLimit")
            if size:
                opts += ",tmpfs-size=%d" % quantity_bytes(size)
            flags.append("--mount=" + opts)
        elif "hostPath" in v:
            flags.append("--mount=type=bind,source=%s,destination=%s%s"
                         % (v["hostPath"]["path"], m["mountPath"], ro))
        else:
            raise ManifestError("volume %s: only emptyDir and hostPath are translated" % m["name"])
    return flags


def translate(directory=MANIFESTS, overrides=None):
    """(flags, args, liveness_command): podman run FLAGS IMAGE ARGS, and the
    liveness probe's command."""
    docs = load(directory)
    ds = one(docs, "DaemonSet")
    template = ds["spec"]["template"]
    pod = template["spec"]
    unknown("pod spec", pod, POD_NO_RUNTIME_EFFECT | {"hostPID", "hostNetwork", "hostIPC",
                                                      "terminationGracePeriodSeconds", "containers",
                                                      "volumes"})
    if len(pod["containers"]) != 1:
        raise ManifestError("one container expected")
    c = pod["containers"][0]
    unknown("container", c, CONTAINER_NO_RUNTIME_EFFECT | {"command", "args", "env", "securityContext",
                                                           "resources", "volumeMounts"})
    flags = []
    if pod.get("hostPID"):
        flags.append("--pid=host")
    if pod.get("hostNetwork"):
        flags.append("--network=host")
    if pod.get("hostIPC"):
        flags.append("--ipc=host")
    if "terminationGracePeriodSeconds" in pod:
        flags.append("--stop-timeout=%d" % pod["terminationGracePeriodSeconds"])
    for key, value in template["metadata"].get("annotations", {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/"):
            if value != "unconfined":
                raise ManifestError("AppArmor profile %s: not translated" % value)
            if apparmor_enabled():
                flags.append("--security-opt=apparmor=unconfined")
        else:
            raise ManifestError("pod annotation %s: not translated" % key)
    flags += security_flags(c.get("securityContext", {}))
    res = c.get("resources", {})
    unknown("resources", res, {"requests", "limits"})
    limits = res.get("limits", {})
    unknown("resources.limits", limits, {"memory", "cpu"})
    if "memory" in limits:
        flags.append("--memory=%d" % quantity_bytes(limits["memory"]))
    if "cpu" in limits:
        flags.append("--cpus=%g" % quantity_cpus(limits["cpu"]))
    flags += env_flags(c, docs, overrides or {})
    flags += volume_flags(c, pod)
    if "command" in c:
        flags.append("--entrypoint=%s" % c["command"][0])
    liveness = c.get("livenessProbe", {}).get("exec", {}).get("command")
    return flags, list(c.get("args", [])), liveness


def main(argv):
    directory, overrides = MANIFESTS, {}
    it = iter(argv)
    for a in it:
        if a == "--env":
            k, _, v = next(it).partition("=")
            overrides[k] = v
        else:
            directory = a
    try:
        flags, args, liveness = translate(directory, overrides)
    except ManifestError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print("\n".join(flags))
    if args:
        print("# args: %s" % " ".join(args))
    print("# liveness: %s" % " ".join(liveness or []))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
