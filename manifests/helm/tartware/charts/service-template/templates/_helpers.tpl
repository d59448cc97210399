{{/*
Service name: the alias this copy of the template was given in the umbrella
Chart.yaml (Helm sets .Chart.Name to the alias).
*/}}
{{- define "svc.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "svc.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "svc.tag" -}}
{{- .Values.image.tag | default .Values.global.image.tag -}}
{{- end -}}

{{/* registry/repository/<service>:<semver>[@sha256:...] */}}
{{- define "svc.image" -}}
{{- $img := .Values.global.image -}}
{{- $ref := printf "%s/%s/%s:%s" $img.registry $img.repository (include "svc.name" .) (include "svc.tag" .) -}}
{{- if .Values.image.digest -}}
{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* The pod selector: stable across upgrades, so never add labels here. */}}
{{- define "svc.selectorLabels" -}}
app.kubernetes.io/name: {{ include "svc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object and of the pod template. */}}
{{- define "svc.labels" -}}
{{ include "svc.selectorLabels" . }}
app.kubernetes.io/part-of: {{ .Values.global.partOf }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.component }}
app.kubernetes.io/version: {{ include "svc.tag" . | quote }}
helm.sh/chart: {{ include "svc.chart" . }}
{{- end -}}

{{- define "svc.priorityClassName" -}}
{{- if .Values.critical -}}
{{- .Values.global.priorityClasses.critical -}}
{{- else -}}
{{- .Values.global.priorityClasses.standard -}}
{{- end -}}
{{- end -}}

{{/* A NetworkPolicy peer: pods with podLabels in the namespace called namespace. */}}
{{- define "svc.peer" -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ .namespace }}
  podSelector:
    matchLabels:
      {{- toYaml .podLabels | nindent 6 }}
{{- end -}}
