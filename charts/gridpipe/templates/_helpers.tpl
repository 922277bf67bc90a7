{{/* Names: every object is <release>-<component>, cut to 63 characters. */}}
{{- define "gridpipe.fullname" -}}
{{- printf "%s-%s" .root.Release.Name .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gridpipe.labels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: gridpipe
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "gridpipe.selector" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* repository:tag, the tag defaulting to the chart's appVersion */}}
{{- define "gridpipe.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{- define "gridpipe.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* nodeSelector, tolerations, affinity of a component's values */}}
{{- define "gridpipe.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "gridpipe.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .uid }}
  runAsGroup: {{ .uid }}
  fsGroup: {{ .uid }}
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "gridpipe.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: {{ .readOnly | default false }}
  capabilities: {drop: [ALL]}
{{- end -}}

{{/* --- Where each service is: the bundled one's in-cluster address, or the one brought. --- */}}

{{- define "gridpipe.kafkaBootstrap" -}}
{{- if .Values.kafka.enabled -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" .Values.operator.kafka.cluster .Release.Namespace (int .Values.kafka.listenerPort) -}}
{{- else -}}
{{- required "kafka.external.bootstrapServers is required when kafka.enabled is false" .Values.kafka.external.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{- define "gridpipe.registryUrl" -}}
{{- if .Values.registry.enabled -}}
{{- printf "http://%s.%s.svc:%d/apis/ccompat/v7" (include "gridpipe.fullname" (dict "root" . "component" "registry")) .Release.Namespace (int .Values.registry.port) -}}
{{- else -}}
{{- required "registry.external.url is required when registry.enabled is false" .Values.registry.external.url -}}
{{- end -}}
{{- end -}}

{{- define "gridpipe.influxdbUrl" -}}
{{- if .Values.influxdb.enabled -}}
{{- printf "http://%s.%s.svc:%d" (include "gridpipe.fullname" (dict "root" . "component" "influxdb")) .Release.Namespace (int .Values.influxdb.port) -}}
{{- else -}}
{{- required "influxdb.external.url is required when influxdb.enabled is false" .Values.influxdb.external.url -}}
{{- end -}}
{{- end -}}

{{- define "gridpipe.influxdbOrg" -}}
{{- if .Values.influxdb.enabled -}}
{{- .Values.influxdb.org -}}
{{- else -}}
{{- required "influxdb.external.org is required when influxdb.enabled is false" .Values.influxdb.external.org -}}
{{- end -}}
{{- end -}}

{{- define "gridpipe.s3Endpoint" -}}
{{- if .Values.s3.minio.enabled -}}
{{- printf "http://%s.%s.svc:%d" (include "gridpipe.fullname" (dict "root" . "component" "minio")) .Release.Namespace (int .Values.s3.minio.port) -}}
{{- else -}}
{{- required "s3.external.endpoint is required when s3.minio.enabled is false" .Values.s3.external.endpoint -}}
{{- end -}}
{{- end -}}

{{/* The InfluxDB token as a secretKeyRef: the connections Secret's (bundled) or the Secret brought. */}}
{{- define "gridpipe.influxdbTokenRef" -}}
{{- if .Values.influxdb.enabled -}}
secretKeyRef: {name: {{ .Values.operator.connectionsSecret | quote }}, key: GRIDPIPE_INFLUXDB_TOKEN}
{{- else -}}
secretKeyRef:
  name: {{ required "influxdb.external.tokenSecret.name is required when influxdb.enabled is false" .Values.influxdb.external.tokenSecret.name | quote }}
  key: {{ .Values.influxdb.external.tokenSecret.key | quote }}
{{- end -}}
{{- end -}}

{{/* monitoring.enabled: true, false, or auto (the Prometheus operator's API is served) */}}
{{- define "gridpipe.monitoring" -}}
{{- $setting := .Values.monitoring.enabled | toString -}}
{{- if or (eq $setting "true") (and (eq $setting "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end -}}

{{/* Peers allowed to reach a platform service: the release namespace and the client namespaces. */}}
{{- define "gridpipe.clientPeers" -}}
- podSelector: {}
- namespaceSelector:
    {{- toYaml .Values.networkPolicy.clientNamespaceSelector | nindent 4 }}
{{- end -}}
