{{/*
The chart's name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "gatehouse-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified name: the release name, prefixed with the chart's name unless the release
name already contains it.
*/}}
{{- define "gatehouse-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gatehouse-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatehouse-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse-agent.labels" -}}
helm.sh/chart: {{ include "gatehouse-agent.chart" . }}
{{ include "gatehouse-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "gatehouse-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatehouse-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Where the agent keeps its identity: "secret" or "file".
*/}}
{{- define "gatehouse-agent.identityStoreMode" -}}
{{- if and .Values.persistence.enabled (eq .Values.persistence.type "secret") }}secret{{ else }}file{{ end }}
{{- end }}

{{- define "gatehouse-agent.identitySecretName" -}}
{{- default (printf "%s-identity" (include "gatehouse-agent.fullname" .)) .Values.persistence.secretName }}
{{- end }}

{{- define "gatehouse-agent.identityClaimName" -}}
{{- printf "%s-identity" (include "gatehouse-agent.fullname" .) }}
{{- end }}

{{/*
The Secret holding the registration token, or nothing when there is none.
*/}}
{{- define "gatehouse-agent.registrationSecretName" -}}
{{- if .Values.existingRegistrationSecret }}
{{- .Values.existingRegistrationSecret }}
{{- else if .Values.registrationToken }}
{{- printf "%s-registration" (include "gatehouse-agent.fullname" .) }}
{{- end }}
{{- end }}

{{- define "gatehouse-agent.argocdSecretName" -}}
{{- printf "%s-argocd" (include "gatehouse-agent.fullname" .) }}
{{- end }}

{{/*
"true" when an Argo CD capability is on: only then does the agent get Argo CD settings.
*/}}
{{- define "gatehouse-agent.argocdEnabled" -}}
{{- if or .Values.capabilities.argocdRead .Values.capabilities.argocdWrite }}true{{ end }}
{{- end }}

{{/*
The enabled capabilities' names (as the agent and the hub spell them), comma-separated, in the
order the agent reports them.
*/}}
{{- define "gatehouse-agent.capabilities" -}}
{{- $spelled := dict "observe" "observe" "diagnosticsRead" "diagnostics.read" "argocdRead" "argocd.read" "argocdWrite" "argocd.write" "directDeploy" "direct.deploy" "kubernetesRestart" "kubernetes.restart" "kubernetesScale" "kubernetes.scale" "credentialSync" "credential.sync" "tokenRotate" "token.rotate" }}
{{- $names := list }}
{{- range $key := list "observe" "diagnosticsRead" "argocdRead" "argocdWrite" "directDeploy" "kubernetesRestart" "kubernetesScale" "credentialSync" "tokenRotate" }}
{{- if index $.Values.capabilities $key }}
{{- $names = append $names (get $spelled $key) }}
{{- end }}
{{- end }}
{{- join "," $names }}
{{- end }}

{{/*
Refuses values the agent cannot run with. Included by the Deployment.
*/}}
{{- define "gatehouse-agent.validate" -}}
{{- if not (has .Values.rbac.profile (list "readonly" "readwrite")) }}
{{- fail (printf "rbac.profile must be readonly or readwrite, not %q" (toString .Values.rbac.profile)) }}
{{- end }}
{{- if not (has .Values.persistence.type (list "secret" "pvc")) }}
{{- fail (printf "persistence.type must be secret or pvc, not %q" (toString .Values.persistence.type)) }}
{{- end }}
{{- if not .Values.hub.address }}
{{- fail "hub.address is required: the hub's agent endpoint, host:port" }}
{{- end }}
{{- if eq .Values.rbac.profile "readonly" }}
{{- range $key := list "argocdWrite" "directDeploy" "kubernetesRestart" "kubernetesScale" "credentialSync" }}
{{- if index $.Values.capabilities $key }}
{{- fail (printf "capabilities.%s is a write capability and rbac.profile is readonly: set rbac.profile=readwrite, or disable capabilities.%s" $key $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Adds verbs on resources of an API group to a grants map (group -> resource -> verb -> true).
Called as: include "gatehouse-agent.grant" (list $grants GROUP RESOURCES VERBS).
*/}}
{{- define "gatehouse-agent.grant" -}}
{{- $grants := index . 0 }}
{{- $group := index . 1 }}
{{- if not (hasKey $grants $group) }}
{{- $_ := set $grants $group (dict) }}
{{- end }}
{{- $byResource := get $grants $group }}
{{- range $resource := index . 2 }}
{{- if not (hasKey $byResource $resource) }}
{{- $_ := set $byResource $resource (dict) }}
{{- end }}
{{- $verbs := get $byResource $resource }}
{{- range $verb := index $ 3 }}
{{- $_ := set $verbs $verb true }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The ClusterRole's rules for the enabled capabilities: the grants merged per resource, then one
rule per API group and verb set, groups in a fixed order, verb sets and resources sorted.
*/}}
{{- define "gatehouse-agent.clusterRules" -}}
{{- $c := .Values.capabilities }}
{{- $write := eq .Values.rbac.profile "readwrite" }}
{{- $read := list "get" "list" "watch" }}
{{- $workloads := dict "" (list "pods" "services" "configmaps" "secrets") "apps" (list "deployments" "statefulsets" "daemonsets" "replicasets") "batch" (list "jobs" "cronjobs") "networking.k8s.io" (list "ingresses") }}
{{- $grants := dict }}
{{- if $c.observe }}
{{- range $group, $resources := $workloads }}
{{- include "gatehouse-agent.grant" (list $grants $group $resources $read) }}
{{- end }}
{{- include "gatehouse-agent.grant" (list $grants "" (list "events") $read) }}
{{- include "gatehouse-agent.grant" (list $grants "events.k8s.io" (list "events") $read) }}
{{- include "gatehouse-agent.grant" (list $grants "" (list "namespaces") (list "get" "list")) }}
{{- end }}
{{- if $c.diagnosticsRead }}
{{- include "gatehouse-agent.grant" (list $grants "" (list "pods/log") (list "get")) }}
{{- end }}
{{- if $c.argocdRead }}
{{- include "gatehouse-agent.grant" (list $grants "argoproj.io" (list "applications") $read) }}
{{- end }}
{{- if $write }}
{{- if or $c.kubernetesRestart $c.kubernetesScale }}
{{- include "gatehouse-agent.grant" (list $grants "apps" (list "deployments") (list "patch")) }}
{{- end }}
{{- if $c.argocdWrite }}
{{- include "gatehouse-agent.grant" (list $grants "argoproj.io" (list "applications") (list "patch" "update")) }}
{{- end }}
{{- if $c.credentialSync }}
{{- include "gatehouse-agent.grant" (list $grants "" (list "secrets") (list "create" "get" "update" "patch")) }}
{{- end }}
{{- if $c.directDeploy }}
{{- range $group, $resources := $workloads }}
{{- include "gatehouse-agent.grant" (list $grants $group $resources (list "create" "update" "patch" "delete")) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $group := list "" "apps" "batch" "networking.k8s.io" "events.k8s.io" "argoproj.io" }}
{{- if hasKey $grants $group }}
{{- $bySet := dict }}
{{- range $resource, $verbs := get $grants $group }}
{{- $ordered := list }}
{{- range $verb := list "get" "list" "watch" "create" "update" "patch" "delete" }}
{{- if hasKey $verbs $verb }}
{{- $ordered = append $ordered $verb }}
{{- end }}
{{- end }}
{{- $set := join "," $ordered }}
{{- if not (hasKey $bySet $set) }}
{{- $_ := set $bySet $set (list) }}
{{- end }}
{{- $_ := set $bySet $set (append (get $bySet $set) $resource) }}
{{- end }}
{{- range $set, $resources := $bySet }}
- apiGroups:
    - {{ $group | quote }}
  resources:
  {{- range $resources }}
    - {{ . }}
  {{- end }}
  verbs:
  {{- range splitList "," $set }}
    - {{ . }}
  {{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
