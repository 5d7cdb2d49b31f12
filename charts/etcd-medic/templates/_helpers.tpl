{{/* Names. */}}
{{- define "etcd-medic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "etcd-medic.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "etcd-medic.peerService" -}}
{{ include "etcd-medic.fullname" . }}-peer
{{- end }}

{{- define "etcd-medic.clientService" -}}
{{ include "etcd-medic.fullname" . }}-client
{{- end }}

{{- define "etcd-medic.tokenSecret" -}}
{{- .Values.sidecar.tokenSecret | default (printf "%s-token" (include "etcd-medic.fullname" .)) }}
{{- end }}

{{- define "etcd-medic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "etcd-medic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "etcd-medic.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "etcd-medic.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "etcd-medic.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "etcd-medic.etcdImage" -}}
{{ .Values.etcdImage.repository }}:{{ .Values.etcdImage.tag }}
{{- end }}

{{/* URLs: members by their stable name in the peer Service. */}}
{{- define "etcd-medic.scheme" -}}
{{ ternary "https" "http" .Values.tls.enabled }}
{{- end }}

{{/* "etcd-medic.memberHost" (list . "${POD_NAME}") */}}
{{- define "etcd-medic.memberHost" -}}
{{- $ := index . 0 -}}
{{ index . 1 }}.{{ include "etcd-medic.peerService" $ }}.${POD_NAMESPACE}.svc
{{- end }}

{{- define "etcd-medic.initialCluster" -}}
{{- $urls := list }}
{{- range $i := until (int .Values.replicas) }}
{{- $m := printf "%s-%d" (include "etcd-medic.fullname" $) $i }}
{{- $urls = append $urls (printf "%s=%s://%s:%d" $m (include "etcd-medic.scheme" $) (include "etcd-medic.memberHost" (list $ $m)) (int $.Values.etcd.peerPort)) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{- define "etcd-medic.endpoints" -}}
{{- $urls := list }}
{{- range $i := until (int .Values.replicas) }}
{{- $m := printf "%s-%d" (include "etcd-medic.fullname" $) $i }}
{{- $urls = append $urls (printf "%s://%s:%d" (include "etcd-medic.scheme" $) (include "etcd-medic.memberHost" (list $ $m)) (int $.Values.etcd.clientPort)) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{/* Secret names of the TLS material. */}}
{{- define "etcd-medic.tlsSecret" -}}
{{- $ := index . 0 }}{{ $which := index . 1 -}}
{{- $name := index $.Values.tls (printf "%sSecret" $which) -}}
{{- $name | default (printf "%s-%s-tls" (include "etcd-medic.fullname" $) $which) }}
{{- end }}

{{/* The restricted security context of every container. */}}
{{- define "etcd-medic.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* etcd's own config file, as etcd-medic reads and renders it. */}}
{{- define "etcd-medic.etcdConfig" -}}
{{- $scheme := include "etcd-medic.scheme" . }}
{{- $self := include "etcd-medic.memberHost" (list . "${POD_NAME}") }}
{{- $c := deepCopy .Values.etcd.extraConfig }}
{{- $own := dict
  "name" "${POD_NAME}"
  "data-dir" "/var/lib/etcd/data"
  "listen-peer-urls" (printf "%s://0.0.0.0:%d" $scheme (int .Values.etcd.peerPort))
  "listen-client-urls" (printf "%s://0.0.0.0:%d" $scheme (int .Values.etcd.clientPort))
  "listen-metrics-urls" (printf "http://0.0.0.0:%d" (int .Values.etcd.metricsPort))
  "initial-advertise-peer-urls" (printf "%s://%s:%d" $scheme $self (int .Values.etcd.peerPort))
  "advertise-client-urls" (printf "%s://%s:%d" $scheme $self (int .Values.etcd.clientPort))
  "initial-cluster" (include "etcd-medic.initialCluster" .)
  "initial-cluster-state" "new"
  "initial-cluster-token" (printf "%s-${POD_NAMESPACE}" (include "etcd-medic.fullname" .))
  "enable-grpc-gateway" true }}
{{- if .Values.tls.enabled }}
{{- $_ := set $own "client-transport-security" (dict
  "cert-file" "/etc/etcd/tls/server/tls.crt"
  "key-file" "/etc/etcd/tls/server/tls.key"
  "trusted-ca-file" "/etc/etcd/tls/server/ca.crt"
  "client-cert-auth" true) }}
{{- $_ := set $own "peer-transport-security" (dict
  "cert-file" "/etc/etcd/tls/peer/tls.crt"
  "key-file" "/etc/etcd/tls/peer/tls.key"
  "trusted-ca-file" "/etc/etcd/tls/peer/ca.crt"
  "client-cert-auth" true) }}
{{- end }}
{{- toYaml (mergeOverwrite $c $own) }}
{{- end }}

{{/* etcd-medic's own config file (README, Configuration). */}}
{{- define "etcd-medic.sidecarConfig" -}}
{{- $c := dict
  "etcd-config" "etcd.yaml"
  "endpoints" (include "etcd-medic.endpoints" .)
  "listen" (printf "%s:%d" .Values.sidecar.listenAddress (int .Values.sidecar.port))
  "log" (dict "format" .Values.sidecar.logFormat "level" .Values.sidecar.logLevel)
  "server" (dict "token-file" "/etc/etcd-medic/token/token")
  "heal" (dict
    "enabled" .Values.heal.enabled
    "quarantine-keep" (int .Values.heal.quarantineKeep)
    "promote-timeout" .Values.heal.promoteTimeout
    "retry-timeout" .Values.heal.retryTimeout
    "lock-ttl" .Values.heal.lockTtl
    "call-timeout" .Values.heal.callTimeout)
  "watch" (dict
    "interval" .Values.watch.interval
    "hash-check" .Values.watch.hashCheck
    "hash-check-interval" .Values.watch.hashCheckInterval
    "hash-max-keys" (int .Values.watch.hashMaxKeys)) }}
{{- if .Values.tls.enabled }}
{{- $_ := set $c "tls" (dict
  "ca-file" "/etc/etcd-medic/tls/ca.crt"
  "cert-file" "/etc/etcd-medic/tls/tls.crt"
  "key-file" "/etc/etcd-medic/tls/tls.key") }}
{{- end }}
{{- if .Values.auth.enabled }}
{{- $_ := set $c "auth" (dict
  "username" .Values.auth.username
  "password-file" "/etc/etcd-medic/auth/password") }}
{{- end }}
{{- if .Values.backup.enabled }}
{{- $b := .Values.backup }}
{{- $o := dict
  "enabled" true
  "compression" $b.compression
  "compression-level" (int $b.compressionLevel)
  "timeout" $b.timeout
  "keep-last" (int $b.keepLast)
  "keep-daily-days" (int $b.keepDailyDays)
  "restore-on-init" $b.restoreOnInit }}
{{- if $b.cron }}
{{- $_ := set $o "cron" $b.cron }}
{{- else }}
{{- $_ := set $o "interval" $b.interval }}
{{- end }}
{{- if eq $b.store "s3" }}
{{- $_ := set $o "store" (trimSuffix "/" (printf "s3://%s/%s" $b.s3.bucket (trimPrefix "/" $b.s3.prefix))) }}
{{- $s3 := dict "credentials-file" "/etc/etcd-medic/s3/credentials" }}
{{- if $b.s3.endpoint }}{{ $_ := set $s3 "endpoint" $b.s3.endpoint }}{{ end }}
{{- if $b.s3.region }}{{ $_ := set $s3 "region" $b.s3.region }}{{ end }}
{{- if $b.s3.urlStyle }}{{ $_ := set $s3 "url-style" $b.s3.urlStyle }}{{ end }}
{{- $_ := set $o "s3" $s3 }}
{{- else }}
{{- $_ := set $o "store" "file:///var/lib/etcd-medic/backups" }}
{{- end }}
{{- $_ := set $c "backup" $o }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* Checks the schema cannot express. */}}
{{- define "etcd-medic.validate" -}}
{{- if and .Values.backup.enabled (eq .Values.backup.store "s3") (not .Values.backup.s3.bucket) }}
{{- fail "backup.store is s3: set backup.s3.bucket" }}
{{- end }}
{{- if and .Values.backup.enabled (eq .Values.backup.store "s3") (not .Values.backup.s3.credentialsSecret) }}
{{- fail "backup.store is s3: set backup.s3.credentialsSecret (a Secret with an AWS credentials file under the key `credentials`)" }}
{{- end }}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) }}
{{- fail "tls.certManager.enabled: set tls.certManager.issuerRef.name" }}
{{- end }}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) }}
{{- fail "auth.enabled: set auth.existingSecret (a Secret with the password under the key `password`)" }}
{{- end }}
{{- end }}
