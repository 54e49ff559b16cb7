{{/*
Named templates. Kept to a small subset of Go templates (test/deploy/chart.test.ts renders the
chart with a renderer of that subset when no helm binary is available).
*/}}

{{/* The release's full name: fullnameOverride, else the release name if it contains "firebreak", else <release>-firebreak. */}}
{{- define "firebreak.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains "firebreak" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-firebreak" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "firebreak.selectorLabels" -}}
app.kubernetes.io/name: {{ default "firebreak" .Values.nameOverride }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "firebreak.labels" -}}
{{ include "firebreak.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "firebreak.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}
{{- .Values.serviceAccount.name -}}
{{- else -}}
{{- include "firebreak.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the tokens (required). */}}
{{- define "firebreak.secretName" -}}
{{- required "existingSecret is required: the name of the Secret holding Firebreak's tokens (deploy/README.md)" .Values.existingSecret -}}
{{- end -}}

{{/* The `job` label Prometheus gives Firebreak's targets: the Service's name with the ServiceMonitor. */}}
{{- define "firebreak.metricsJob" -}}
{{- default (include "firebreak.fullname" .) .Values.monitoring.prometheusRule.job -}}
{{- end -}}

{{- define "firebreak.alertLabels" -}}
{{- if .Values.monitoring.prometheusRule.alertLabels -}}
{{- toYaml .Values.monitoring.prometheusRule.alertLabels -}}
{{- end -}}
{{- end -}}
