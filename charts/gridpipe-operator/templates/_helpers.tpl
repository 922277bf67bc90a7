{{- define "gridpipe-operator.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gridpipe-operator.labels" -}}
app.kubernetes.io/name: gridpipe-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gridpipe-operator.selector" -}}
app.kubernetes.io/name: gridpipe-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
