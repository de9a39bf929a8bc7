#!/usr/bin/env bash
# Validates the deployment files with the real tools, offline:
#   - the Helm chart, rendered by helm (built from the Go module proxy) with several value sets,
#     every object checked by kubeconform against JSON schemas made here from Kubernetes' own
#     OpenAPI document (k8s.io/kubernetes module) and prometheus-operator's CRDs — kubeconform never
#     downloads anything — plus the chart's own rules (deploy/tools/check-manifests.ts);
#   - the PrometheusRule the chart renders is exactly what alerts/generate.ts writes, with the
#     default thresholds and with overrides, and promtool accepts it;
#   - the chart's copies of alerts/dashboards/plans are current;
#   - the compose file and the Dockerfile, with the loaders Docker itself uses (compose-go,
#     BuildKit's Dockerfile parser and linter) built into deploy/tools/deploycheck.
# Tools and schemas are cached in .stack/tools (FAASMETER_STACK_DIR); a second run builds nothing.
# Prints one line per check and closes with "N passed, N failed"; exits 1 if any check failed.
#
#   bash deploy/validate.sh
# shellcheck disable=SC2317  # functions below are called through check/check_fails
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
REPO="$PWD"

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VERSION=1.37.2
PROMETHEUS_OPERATOR_VERSION=v0.94.1

STACK_DIR="${FAASMETER_STACK_DIR:-$REPO/.stack}"
TOOLS="$STACK_DIR/tools"
BIN="$TOOLS/bin"
SCHEMAS="$TOOLS/k8s-schemas"
OUT="$STACK_DIR/validate"
CHART=deploy/helm/faasmeter
mkdir -p "$BIN" "$OUT"

# Go builds reach only the module proxy; a module asking for a newer Go fails instead of fetching one.
export GOBIN="$BIN" GOFLAGS=-mod=mod GOTOOLCHAIN=local
NODE=node
[[ -x node_modules/.bin/node ]] && NODE="$REPO/node_modules/.bin/node"

passed=0
failed=0
T_START=$SECONDS
say() { printf '%s\n' "$*"; }
ok() { passed=$((passed + 1)); say "ok   $1"; }
fail() { failed=$((failed + 1)); say "FAIL $1"; [[ -n "${2:-}" ]] && sed 's/^/     /' "$2" | tail -n 40; }
# check NAME COMMAND...: runs the command, output to $OUT/NAME.log; pass on exit 0.
check() {
  local name="$1" log
  shift
  log="$OUT/$(tr -c 'A-Za-z0-9._-' _ <<<"$name").log"
  if "$@" >"$log" 2>&1; then ok "$name"; else fail "$name" "$log"; fi
}
# check_fails NAME PATTERN COMMAND...: the command must fail and say PATTERN.
check_fails() {
  local name="$1" pattern="$2" log
  shift 2
  log="$OUT/$(tr -c 'A-Za-z0-9._-' _ <<<"$name").log"
  if "$@" >"$log" 2>&1; then
    echo "expected a failure, the command succeeded" >>"$log"
    fail "$name" "$log"
  elif grep -q -- "$pattern" "$log"; then ok "$name"; else
    echo "failed, but without saying: $pattern" >>"$log"
    fail "$name" "$log"
  fi
}
finish() {
  say "validate.sh took $((SECONDS - T_START)) s"
  say "$passed passed, $failed failed"
  ((failed == 0))
  exit $?
}

# --- tools ------------------------------------------------------------------------------------

install_tools() {
  command -v go >/dev/null || { echo "go is not installed (the helm and kubeconform builds need it)"; return 1; }
  local t=$SECONDS
  if [[ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]]; then
    # The version and default Kubernetes version helm's own Makefile sets at link time.
    local minor="${KUBERNETES_VERSION#*.}"
    minor="${minor%%.*}"
    go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || return 1
    echo "built helm $HELM_VERSION in $((SECONDS - t)) s"
  fi
  t=$SECONDS
  if [[ "$("$BIN/kubeconform" -v 2>/dev/null)" != "$KUBECONFORM_VERSION" ]]; then
    go install -trimpath -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
      "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" || return 1
    echo "built kubeconform $KUBECONFORM_VERSION in $((SECONDS - t)) s"
  fi
  t=$SECONDS
  # Our own checker of the compose file and the Dockerfile; rebuilt when its sources change.
  local sum
  sum="$(cat deploy/tools/deploycheck/go.mod deploy/tools/deploycheck/go.sum deploy/tools/deploycheck/*.go | sha256sum | cut -c1-16)"
  if [[ "$(cat "$BIN/.deploycheck" 2>/dev/null)" != "$sum" || ! -x "$BIN/deploycheck" ]]; then
    (cd deploy/tools/deploycheck && go build -trimpath -ldflags "-s -w" -o "$BIN/deploycheck" .) || return 1
    echo "$sum" >"$BIN/.deploycheck"
    echo "built deploycheck in $((SECONDS - t)) s"
  fi
}

module_dir() { # module@version → its directory in the module cache (downloaded once)
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

make_schemas() {
  local stamp k8s po
  stamp="kubernetes $KUBERNETES_VERSION prometheus-operator $PROMETHEUS_OPERATOR_VERSION $(sha256sum deploy/tools/k8s-schemas.ts | cut -c1-16)"
  [[ "$(cat "$SCHEMAS/.stamp" 2>/dev/null)" == "$stamp" ]] && return 0
  k8s="$(module_dir "k8s.io/kubernetes@v$KUBERNETES_VERSION")" || return 1
  po="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")" || return 1
  [[ -f "$k8s/api/openapi-spec/swagger.json" ]] || { echo "no api/openapi-spec/swagger.json in $k8s"; return 1; }
  local crds="$po/example/prometheus-operator-crd"
  "$NODE" deploy/tools/k8s-schemas.ts --swagger "$k8s/api/openapi-spec/swagger.json" --kube-version "$KUBERNETES_VERSION" \
    --crd "$crds/monitoring.coreos.com_servicemonitors.yaml" \
    --crd "$crds/monitoring.coreos.com_podmonitors.yaml" \
    --crd "$crds/monitoring.coreos.com_prometheusrules.yaml" \
    --out "$SCHEMAS" || return 1
  echo "$stamp" >"$SCHEMAS/.stamp"
}

check "tools: helm $HELM_VERSION, kubeconform $KUBECONFORM_VERSION, deploycheck" install_tools
check "schemas: Kubernetes v$KUBERNETES_VERSION OpenAPI + prometheus-operator $PROMETHEUS_OPERATOR_VERSION CRDs" make_schemas
if ((failed > 0)); then finish; fi
HELM="$BIN/helm"

# --- the chart --------------------------------------------------------------------------------

check "chart files are current (deploy/tools/sync-chart-files.sh --check)" bash deploy/tools/sync-chart-files.sh --check
check "helm lint --strict" "$HELM" lint --strict "$CHART"
check "helm lint --strict (full values)" "$HELM" lint --strict "$CHART" -f deploy/helm/test-values/full.yaml

render() { # render NAME [helm args]: the chart as a cluster of KUBERNETES_VERSION would get it
  local name="$1"
  shift
  "$HELM" template fm "$CHART" --namespace faasmeter --kube-version "$KUBERNETES_VERSION" "$@" >"$OUT/$name.yaml"
}
kinds_of() { grep -h '^kind: ' "$OUT/$1.yaml" | sort -u | sed 's/^kind: //' | tr '\n' ' '; }
expect_kinds() { # expect_kinds NAME "present kinds" "absent kinds"
  local name="$1" kinds k
  kinds=" $(kinds_of "$name")"
  for k in $2; do [[ "$kinds" == *" $k "* ]] || { echo "$name: no $k rendered (kinds: $kinds)"; return 1; }; done
  for k in $3; do [[ "$kinds" != *" $k "* ]] || { echo "$name: $k rendered but should not be"; return 1; }; done
  echo "$name: $kinds"
}
kubeconform() {
  "$BIN/kubeconform" -strict -summary -kubernetes-version "$KUBERNETES_VERSION" -schema-location "$SCHEMAS" "$@"
}

declare -A PRESENT=(
  [defaults]="Deployment DaemonSet Job Service PodDisruptionBudget ConfigMap ServiceAccount ClusterRole ClusterRoleBinding ServiceMonitor PodMonitor PrometheusRule"
  [agent-off]="Deployment Job ServiceMonitor PrometheusRule"
  [monitoring-off]="Deployment DaemonSet Job"
  [full]="Deployment DaemonSet Job ServiceMonitor PodMonitor PrometheusRule"
  [minimal]="DaemonSet ServiceMonitor PrometheusRule"
)
declare -A ABSENT=(
  [defaults]=""
  [agent-off]="DaemonSet ClusterRole ClusterRoleBinding"
  [monitoring-off]="ServiceMonitor PodMonitor PrometheusRule"
  [full]=""
  [minimal]="Deployment Job PodDisruptionBudget"
)
for name in defaults agent-off monitoring-off full minimal; do
  values=()
  [[ "$name" != defaults ]] && values=(-f "deploy/helm/test-values/$name.yaml")
  if render "$name" "${values[@]}" 2>"$OUT/$name.err"; then
    check "render $name: expected kinds" expect_kinds "$name" "${PRESENT[$name]}" "${ABSENT[$name]}"
    check "kubeconform -strict $name (Kubernetes v$KUBERNETES_VERSION)" kubeconform "$OUT/$name.yaml"
    check "chart rules $name (security, probes, resources, env names, ports, plans)" "$NODE" deploy/tools/check-manifests.ts "$OUT/$name.yaml"
  else
    fail "render $name" "$OUT/$name.err"
  fi
done

setfile_plans() {
  render setfile --set-file pricing.plans=deploy/config/plans.example.json &&
    grep -q '"aws-lambda-us-east-1"' "$OUT/setfile.yaml" && "$NODE" deploy/tools/check-manifests.ts "$OUT/setfile.yaml"
}
check "pricing.plans from --set-file reaches the ConfigMap and the meter accepts it" setfile_plans

# The schemas must actually be strict and complete: a misspelt field and an unknown kind fail.
cat >"$OUT/canary.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: { name: canary }
spec:
  selector: { matchLabels: { app: canary } }
  template:
    metadata: { labels: { app: canary } }
    spec:
      containers:
        - name: c
          image: busybox:1.37
          securityContext: { readOnlyRootFileSystem: true }
EOF
check_fails "kubeconform rejects a misspelt field (readOnlyRootFileSystem)" "readOnlyRootFileSystem" kubeconform "$OUT/canary.yaml"
printf 'apiVersion: example.com/v1\nkind: Gadget\nmetadata: { name: g }\n' >"$OUT/canary-kind.yaml"
check_fails "kubeconform fails on a kind it has no schema for" "could not find schema" kubeconform "$OUT/canary-kind.yaml"

# --- alert rules: the chart renders what alerts/generate.ts writes ------------------------------

check "PrometheusRule (defaults) = alerts/rules/*.yml" \
  "$NODE" deploy/tools/compare-rules.ts --rendered "$OUT/defaults.yaml" alerts/rules/*.yml
overridden_rules() { # alerts/generate.ts with alerts/thresholds.json overlaid with full.yaml's thresholds
  "$NODE" --input-type=module -e "
    import { readFileSync, writeFileSync } from 'node:fs';
    import { parse } from 'yaml';
    const base = JSON.parse(readFileSync('alerts/thresholds.json', 'utf8'));
    const over = parse(readFileSync('deploy/helm/test-values/full.yaml', 'utf8')).prometheusRule.thresholds;
    for (const [k, v] of Object.entries(over)) base[k] = typeof v === 'object' ? { ...base[k], ...v } : v;
    writeFileSync('$OUT/thresholds-full.json', JSON.stringify(base));
  " && "$NODE" alerts/generate.ts --thresholds "$OUT/thresholds-full.json" --out "$OUT/rules-full.yml" &&
    "$NODE" --input-type=module -e "
      import { readFileSync, writeFileSync } from 'node:fs';
      import { parse, stringify } from 'yaml';
      // The chart adds additionalRuleLabels to every rule.
      const doc = parse(readFileSync('$OUT/rules-full.yml', 'utf8'));
      for (const g of doc.groups) for (const r of g.rules) r.labels = { ...r.labels, team: 'platform' };
      writeFileSync('$OUT/rules-full.yml', stringify(doc));
    " &&
    "$NODE" deploy/tools/compare-rules.ts --rendered "$OUT/full.yaml" --extract "$OUT/rendered-rules-full.yml" "$OUT/rules-full.yml"
}
check "PrometheusRule (threshold overrides) = alerts/generate.ts --thresholds <same overrides>" overridden_rules
if command -v promtool >/dev/null; then
  check "promtool check rules (rendered with overrides)" promtool check rules "$OUT/rendered-rules-full.yml"
else
  say "skip promtool check rules: promtool is not installed (Debian package prometheus)"
fi
check_fails "an unknown threshold fails the render" "prometheusRule.thresholds.nope" \
  render rejected --set prometheusRule.thresholds.nope=1
check_fails "an unknown threshold field fails the render" "prometheusRule.thresholds.errorRatio.ratoi" \
  render rejected --set prometheusRule.thresholds.errorRatio.ratoi=0.1
check_fails "disabling an unknown alert fails the render" "no alert named Nope" \
  render rejected --set 'prometheusRule.disabled={Nope}'
disabled_alert() {
  render disabled --set 'prometheusRule.disabled={FaasColdStartRatioHigh}' &&
    ! grep -q 'alert: FaasColdStartRatioHigh' "$OUT/disabled.yaml" && grep -q 'alert: FaasErrorRatioHigh' "$OUT/disabled.yaml"
}
check "a disabled alert is left out, the others stay" disabled_alert

# --- compose and the image ------------------------------------------------------------------

if docker compose version >/dev/null 2>&1; then
  check "docker compose config -q" docker compose -f deploy/compose/docker-compose.yml config -q
else
  say "skip docker compose config -q: the docker CLI has no compose plugin here; compose-go below is the same loader"
fi
check "compose file loads with compose-go (docker compose's loader, with its schema)" \
  "$BIN/deploycheck" compose deploy/compose/docker-compose.yml
check "Dockerfile parses and passes BuildKit's lint rules" "$BIN/deploycheck" dockerfile Dockerfile

finish
