{{/* Chart name, or nameOverride. */}}
{{- define "trailwarden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name of the release's objects: fullnameOverride, else the release name when it
already holds the chart name, else "<release>-<chart>". Kept to 63 characters.
*/}}
{{- define "trailwarden.fullname" -}}
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

{{- define "trailwarden.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the controller's pods; never change across upgrades. */}}
{{- define "trailwarden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trailwarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "trailwarden.labels" -}}
helm.sh/chart: {{ include "trailwarden.chart" . }}
{{ include "trailwarden.selectorLabels" . }}
app.kubernetes.io/version: {{ include "trailwarden.version" . | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: trailwarden
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The image tag: image.tag, else the chart's appVersion. */}}
{{- define "trailwarden.version" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "trailwarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "trailwarden.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
