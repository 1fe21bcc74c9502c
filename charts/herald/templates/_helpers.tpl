{{/* Names ------------------------------------------------------------------------------- */}}

{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The release's base name. Component objects append -operator, -broker, -dispatcher (at most
11 characters), so it is cut to 52.
*/}}
{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "herald.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels. Call with (dict "root" $ "component" "broker"); component may be empty. */}}
{{- define "herald.labels" -}}
helm.sh/chart: {{ include "herald.chart" .root }}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: herald
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* The ServiceAccount of a component: (dict "root" $ "component" "operator"). */}}
{{- define "herald.serviceAccountName" -}}
{{- $given := index .root.Values.serviceAccount.names .component -}}
{{- if .root.Values.serviceAccount.create -}}
{{- default (printf "%s-%s" (include "herald.fullname" .root) .component) $given -}}
{{- else -}}
{{- required (printf "serviceAccount.names.%s is required when serviceAccount.create is false" .component) $given -}}
{{- end -}}
{{- end -}}

{{- define "herald.configKeySecretName" -}}
{{- default (printf "%s-config-key" (include "herald.fullname" .)) .Values.configKey.existingSecret -}}
{{- end -}}

{{- define "herald.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "herald.natsUrl" -}}
{{- required "nats.url is required: Herald stores everything in NATS JetStream, which this chart does not install. Set it to your JetStream server, e.g. --set nats.url=nats://nats.nats.svc.cluster.local:4222 (see docs/install.md)" .Values.nats.url -}}
{{- end -}}

{{/* Pods ---------------------------------------------------------------------------------- */}}

{{/* Where the config key Secret is mounted; HERALD_CONFIG_KEY_FILE points at the key in it. */}}
{{- define "herald.configKeyDir" -}}/etc/herald/config-key{{- end -}}

{{/* Environment every component gets. */}}
{{- define "herald.commonEnv" -}}
- name: NATS_URL
  value: {{ include "herald.natsUrl" . | quote }}
- name: HERALD_CONFIG_KEY_FILE
  value: {{ printf "%s/%s" (include "herald.configKeyDir" .) .Values.configKey.secretKey | quote }}
- name: HERALD_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.nats.credsSecret.name }}
- name: NATS_CREDS_FILE
  value: {{ printf "/etc/herald/nats/%s" $.Values.nats.credsSecret.key | quote }}
{{- end }}
{{- if .Values.nats.tls.secretName }}
{{- with .Values.nats.tls.ca }}
- name: NATS_TLS_CA_FILE
  value: {{ printf "/etc/herald/nats-tls/%s" . | quote }}
{{- end }}
{{- if and .Values.nats.tls.cert .Values.nats.tls.key }}
- name: NATS_TLS_CERT_FILE
  value: {{ printf "/etc/herald/nats-tls/%s" .Values.nats.tls.cert | quote }}
- name: NATS_TLS_KEY_FILE
  value: {{ printf "/etc/herald/nats-tls/%s" .Values.nats.tls.key | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "herald.volumeMounts" -}}
- name: config-key
  mountPath: {{ include "herald.configKeyDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.nats.credsSecret.name }}
- name: nats-creds
  mountPath: /etc/herald/nats
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.secretName }}
- name: nats-tls
  mountPath: /etc/herald/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Secret files are 0440 (decimal 288): readable by the pod's fsGroup, nobody else. */}}
{{- define "herald.volumes" -}}
- name: config-key
  secret:
    secretName: {{ include "herald.configKeySecretName" . }}
    defaultMode: 288
    items:
      - key: {{ .Values.configKey.secretKey }}
        path: {{ .Values.configKey.secretKey }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.nats.credsSecret.name }}
- name: nats-creds
  secret:
    secretName: {{ .Values.nats.credsSecret.name }}
    defaultMode: 288
{{- end }}
{{- if .Values.nats.tls.secretName }}
- name: nats-tls
  secret:
    secretName: {{ .Values.nats.tls.secretName }}
    defaultMode: 288
{{- end }}
{{- end -}}

{{/*
The Deployment of one component. Call with
  (dict "root" $ "component" "broker" "values" .Values.broker "env" $envYaml "ports" $portsYaml
        "probePort" "http" "metricsPort" 8080 "automountToken" false)
*/}}
{{- define "herald.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $labels := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "herald.fullname" $root }}-{{ .component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "herald.labels" $labels | nindent 4 }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 10
  selector:
    matchLabels:
      {{- include "herald.selectorLabels" $labels | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "herald.labels" $labels | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $annotations := dict }}
      {{- if $root.Values.metrics.podAnnotations }}
      {{- $annotations = dict "prometheus.io/scrape" "true" "prometheus.io/port" (toString .metricsPort) "prometheus.io/path" "/metrics" }}
      {{- end }}
      {{- $annotations = merge (deepCopy (default dict $v.podAnnotations)) $annotations }}
      {{- with $annotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "herald.serviceAccountName" $labels }}
      automountServiceAccountToken: {{ .automountToken }}
      # Herald reads its settings from HERALD_* variables; Service links would add unrelated ones.
      enableServiceLinks: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "herald.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command:
            {{- toYaml $root.Values.image.command | nindent 12 }}
          args:
            - {{ .component }}
          env:
            {{- include "herald.commonEnv" $root | nindent 12 }}
            {{- .env | nindent 12 }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            {{- .ports | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ .probePort }}
            {{- toYaml $v.livenessProbe | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: {{ .probePort }}
            {{- toYaml $v.readinessProbe | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            {{- include "herald.volumeMounts" $root | nindent 12 }}
      volumes:
        {{- include "herald.volumes" $root | nindent 8 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        {{- $constraint := deepCopy . }}
        {{- if not $constraint.labelSelector }}
        {{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "herald.selectorLabels" $labels | fromYaml)) }}
        {{- end }}
        {{- list $constraint | toYaml | nindent 8 }}
        {{- end }}
      {{- end }}
{{- end -}}

{{/* A PodDisruptionBudget for one component: (dict "root" $ "component" "broker" "values" .Values.broker). */}}
{{- define "herald.pdb" -}}
{{- $labels := dict "root" .root "component" .component -}}
{{- $pdb := .values.podDisruptionBudget -}}
{{- if $pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "herald.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "herald.labels" $labels | nindent 4 }}
spec:
  {{- if hasKey $pdb "minAvailable" }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "herald.selectorLabels" $labels | nindent 6 }}
{{- end }}
{{- end -}}
