{{- define "gridpipe-operator.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gridpipe-operator.labels" -}}
app.kubernetes.io/name: gridpipe-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gridpipe
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gridpipe-operator.selector" -}}
app.kubernetes.io/name: gridpipe-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* image reference: repository:tag, the tag defaulting to the chart's appVersion */}}
{{- define "gridpipe-operator.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .chart.AppVersion) -}}
{{- end -}}

{{/* pull Secrets: this chart's and a parent's global ones, without repeats */}}
{{- define "gridpipe-operator.imagePullSecrets" -}}
{{- $names := concat (.Values.imagePullSecrets | default list) (get (.Values.global | default dict) "imagePullSecrets" | default list) | uniq -}}
{{- if $names }}
imagePullSecrets:
{{- range $names }}
  - name: {{ . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Rules on namespaced resources: in the ClusterRole (whole cluster) or in a Role per watched namespace. */}}
{{- define "gridpipe-operator.namespacedRules" -}}
# GridPipelines: watched; patched for kopf's progress annotations and the finalizer of deletionPolicy Delete
- apiGroups: [gridpipe.io]
  resources: [gridpipelines]
  verbs: [get, list, watch, patch]
- apiGroups: [gridpipe.io]
  resources: [gridpipelines/status]
  verbs: [get, patch]
# children: server-side applied (an apply that creates needs create too), watched to be put back, deleted
- apiGroups: [kafka.strimzi.io]
  resources: [kafkatopics]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [flink.apache.org]
  resources: [flinkdeployments]
  verbs: [get, list, watch, create, patch, delete]
# the connections Secret only, by name, in whichever namespace a pipeline lives
- apiGroups: [""]
  resources: [secrets]
  resourceNames: [{{ .Values.connectionsSecret | quote }}]
  verbs: [get]
# warnings and errors of handlers, as Events on the pipeline
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create]
{{- if .Values.peering.enabled }}
# peering per watched namespace (KopfPeering) when not cluster-wide
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch, create]
{{- end }}
{{- end -}}

{{/* Rules on cluster-scoped resources: read-only discovery, and the cluster-wide peering record. */}}
{{- define "gridpipe-operator.discoveryRules" -}}
# kopf resolves the watched namespaces (--namespace, which may be patterns) by watching namespaces
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
# kopf discovers resources and notices CRDs appearing
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end -}}
