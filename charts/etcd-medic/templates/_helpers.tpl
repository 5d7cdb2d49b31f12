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

{{/*
The etcd version etcdImage runs: etcd.version, else etcdImage.tag (v3.6.17).
The config keys depend on it: etcd's config file ignores a key it does not
know without a word (3.6 renamed the experimental-* keys, 3.7 removed them).
*/}}
{{- define "etcd-medic.etcdVersion" -}}
{{- $v := .Values.etcd.version | default .Values.etcdImage.tag | toString | trimPrefix "v" }}
{{- $m := regexFind "^3\\.[0-9]+\\.[0-9]+" $v }}
{{- if not $m }}
{{- fail (printf "etcdImage.tag %q does not say which etcd version it is: set etcd.version (e.g. 3.6.17), which decides the names of etcd's config keys" (toString .Values.etcdImage.tag)) }}
{{- end }}
{{- $m }}
{{- end }}

{{/*
etcd's corruption checks (etcd.corruptionChecks), under the names the etcd
version knows: 3.4 and 3.5 read experimental-* keys; 3.6 reads feature gates
(InitialCorruptCheck, CompactHashCheck) and corrupt-check-time, and still the
old names (deprecated); 3.7 reads only the new ones.  Durations are integer
nanoseconds: etcd's config file takes no "5m".  Merged into $c, whose
feature-gates (from extraConfig) are kept.
*/}}
{{- define "etcd-medic.etcdChecks" -}}
{{- $ := index . 0 }}
{{- $c := index . 1 }}
{{- $ver := include "etcd-medic.etcdVersion" $ }}
{{- $cc := $.Values.etcd.corruptionChecks }}
{{- $ns := mul (int64 $cc.periodicSeconds) 1000000000 }}
{{- if semverCompare ">=3.6.0-0" $ver }}
{{- $gates := list }}
{{- with (index $c "feature-gates") }}{{ $gates = splitList "," (toString .) }}{{ end }}
{{- if $cc.initial }}{{ $gates = append $gates "InitialCorruptCheck=true" }}{{ end }}
{{- if $cc.compactHash }}{{ $gates = append $gates "CompactHashCheck=true" }}{{ end }}
{{- if $gates }}{{ $_ := set $c "feature-gates" (join "," (uniq $gates)) }}{{ end }}
{{- if gt $ns 0 }}{{ $_ := set $c "corrupt-check-time" $ns }}{{ end }}
{{- else }}
{{- if $cc.initial }}{{ $_ := set $c "experimental-initial-corrupt-check" true }}{{ end }}
{{- if gt $ns 0 }}{{ $_ := set $c "experimental-corrupt-check-time" $ns }}{{ end }}
{{- if $cc.compactHash }}
{{- if semverCompare "<3.5.5-0" $ver }}
{{- fail (printf "etcd %s has no compact hash check (3.5.5 and later): set etcd.corruptionChecks.compactHash=false" $ver) }}
{{- end }}
{{- $_ := set $c "experimental-compact-hash-check-enabled" true }}
{{- end }}
{{- end }}
{{- if semverCompare ">=3.7.0-0" $ver }}
{{- range $k, $_ := $c }}
{{- if hasPrefix "experimental-" $k }}
{{- fail (printf "etcd.extraConfig.%s: etcd %s no longer knows the experimental-* keys and would ignore it without a word; use its new name or feature gate (etcd's CHANGELOG-3.6, \"deprecated flags\")" $k $ver) }}
{{- end }}
{{- end }}
{{- end }}
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
{{- include "etcd-medic.etcdChecks" (list . $c) }}
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
