{{/* Names: release-scoped, at most 63 characters. */}}
{{- define "faasmeter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "faasmeter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>"; call with (list $ "meter"). */}}
{{- define "faasmeter.componentName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "faasmeter.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "faasmeter.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: faasmeter
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
{{ include "faasmeter.selectorLabels" . }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "faasmeter.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "faasmeter.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "faasmeter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The ConfigMap holding plans.json. */}}
{{- define "faasmeter.pricingConfigMap" -}}
{{- default (include "faasmeter.componentName" (list . "pricing")) .Values.pricing.existingConfigMap -}}
{{- end -}}

{{/* Kafka settings every process shares. */}}
{{- define "faasmeter.kafkaEnv" -}}
- name: FAASMETER_KAFKA_BROKERS
  value: {{ required "kafka.brokers is required" .Values.kafka.brokers | quote }}
- name: FAASMETER_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
{{- end -}}

{{/* ClickHouse settings of the meter, the API and the migrations; the password from a Secret. */}}
{{- define "faasmeter.clickhouseEnv" -}}
- name: FAASMETER_CLICKHOUSE_URL
  value: {{ required "clickhouse.url is required" .Values.clickhouse.url | quote }}
- name: FAASMETER_CLICKHOUSE_DATABASE
  value: {{ .Values.clickhouse.database | quote }}
- name: FAASMETER_CLICKHOUSE_USER
  value: {{ .Values.clickhouse.user | quote }}
{{- with .Values.clickhouse.password.existingSecret }}
- name: FAASMETER_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.clickhouse.password.key }}
{{- end }}
{{- end -}}

{{- define "faasmeter.commonEnv" -}}
- name: FAASMETER_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}

{{- define "faasmeter.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "faasmeter.securityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}

{{/* Liveness on /healthz, readiness on /readyz, a start-up allowance; call with the port name. */}}
{{- define "faasmeter.probes" -}}
startupProbe:
  httpGet: { path: /healthz, port: {{ . }} }
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: { path: /healthz, port: {{ . }} }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: {{ . }} }
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}

{{/* Prefer spreading replicas over nodes, unless the values say otherwise. */}}
{{- define "faasmeter.affinity" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $affinity := index . 2 -}}
{{- if $affinity -}}
{{- toYaml $affinity -}}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "faasmeter.selectorLabels" (list $root $component) | nindent 12 }}
{{- end -}}
{{- end -}}

{{/* A threshold as PromQL and people read it: whole numbers without a decimal point or exponent. */}}
{{- define "faasmeter.number" -}}
{{- if eq (float64 (int64 .)) (float64 .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- end -}}

{{/* A ratio as a percentage, rounded as alerts/rules.ts rounds it (4 decimals). */}}
{{- define "faasmeter.percent" -}}
{{- include "faasmeter.number" (round (mulf . 100) 4) -}}
{{- end -}}
