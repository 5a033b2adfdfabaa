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

{{/*
Settings `trailwarden run` would refuse at start-up, refused at render time instead, with
the same rule, so that a bad value fails `helm install` / `helm upgrade` rather than
crash-looping the pods.
*/}}
{{- define "trailwarden.validate" -}}
{{- $le := .Values.leaderElection }}
{{- if $le.enabled }}
{{- /* As src/cmd/run.rs: the lease lasts at least 2 s; the renew deadline must be above 0
and below it, so a leader that cannot renew steps down before a standby may take over. */}}
{{- $lease := max 2 (int64 $le.leaseDurationSeconds) }}
{{- $renew := float64 $le.renewDeadlineSeconds }}
{{- if or (le $renew 0.0) (ge $renew (float64 $lease)) }}
{{- fail (printf "leaderElection.renewDeadlineSeconds (%v) must be above 0 and below leaderElection.leaseDurationSeconds (%v): trailwarden run refuses to start otherwise (a leader must step down before a standby may take the lease). Raise leaseDurationSeconds above %v, or lower renewDeadlineSeconds (two thirds of the lease: %v)" $le.renewDeadlineSeconds $le.leaseDurationSeconds $le.renewDeadlineSeconds (div (mul $lease 2) 3)) }}
{{- end }}
{{- end }}
{{- /* The environment variables the chart sets, and the value each comes from: extraEnv may
not set them again (a second entry of one name is ambiguous, and server-side apply refuses
it). */}}
{{- $managed := dict
  "POD_NAME" "(the pod's name)" "POD_NAMESPACE" "(the pod's namespace)"
  "AWS_REGION" "aws.region" "RUST_LOG" "logLevel"
  "TRAILWARDEN_LEADER_ELECTION" "leaderElection.enabled"
  "TRAILWARDEN_LEASE_NAME" "leaderElection.leaseName"
  "TRAILWARDEN_LEASE_NAMESPACE" "leaderElection.leaseNamespace"
  "TRAILWARDEN_LEASE_DURATION_SECONDS" "leaderElection.leaseDurationSeconds"
  "TRAILWARDEN_LEASE_RENEW_DEADLINE_SECONDS" "leaderElection.renewDeadlineSeconds"
  "TRAILWARDEN_HTTP_ADDR" "httpListenAddress"
  "TRAILWARDEN_AWS_ENDPOINT" "aws.endpointUrl"
  "TRAILWARDEN_AWS_MAX_ATTEMPTS" "aws.maxAttempts"
  "TRAILWARDEN_AWS_ATTEMPT_TIMEOUT_SECONDS" "aws.attemptTimeoutSeconds"
  "TRAILWARDEN_AWS_OPERATION_TIMEOUT_SECONDS" "aws.operationTimeoutSeconds"
  "TRAILWARDEN_AWS_MAX_IN_FLIGHT" "aws.maxInFlight"
  "TRAILWARDEN_AWS_RETRY_MODE" "aws.retryMode"
  "TRAILWARDEN_AWS_READS_PER_SECOND" "aws.readsPerSecond"
  "TRAILWARDEN_AWS_WRITES_PER_SECOND" "aws.writesPerSecond"
  "TRAILWARDEN_AWS_SHARED_READS_SECONDS" "aws.sharedReadsSeconds"
  "TRAILWARDEN_AWS_SHARED_POSTURE_SECONDS" "aws.sharedPostureSeconds"
  "TRAILWARDEN_EVENTS_QUEUE_URL" "events.queueUrl"
  "TRAILWARDEN_MAX_CONCURRENT_RECONCILES" "maxConcurrentReconciles"
  "TRAILWARDEN_SELECTOR" "selector"
  "TRAILWARDEN_PASS_DEADLINE_SECONDS" "passDeadlineSeconds"
  "TRAILWARDEN_STALL_SECONDS" "stallSeconds"
  "TRAILWARDEN_VERIFY_LOGS_INTERVAL_SECONDS" "verifyLogs.intervalSeconds"
  "TRAILWARDEN_VERIFY_LOGS_LOOKBACK_HOURS" "verifyLogs.lookbackHours"
  "TRAILWARDEN_VERIFY_LOGS_RECHECK_HOURS" "verifyLogs.recheckHours"
  "TRAILWARDEN_ALLOWED_ACCOUNTS" "guardrails.allowedAccounts"
  "TRAILWARDEN_ALLOWED_ROLE_ARNS" "guardrails.allowedRoleArns"
  "TRAILWARDEN_ALLOW_ADOPTION_ALWAYS" "guardrails.allowAdoptionAlways"
  "TRAILWARDEN_ALLOW_DELETION" "guardrails.allowDeletion"
  "TRAILWARDEN_ALLOW_MANAGE" "guardrails.allowManage"
  "TRAILWARDEN_FLOOR" "floor.*"
  "TRAILWARDEN_FLOOR_BUCKET_ACCOUNTS" "floor.bucketAccounts"
  "TRAILWARDEN_FLOOR_KEY_ACCOUNTS" "floor.keyAccounts"
  "TRAILWARDEN_LOG_FORMAT" "logFormat" }}
{{- range .Values.extraEnv }}
{{- if hasKey $managed .name }}
{{- fail (printf "extraEnv sets %s, which the chart sets from %s: set that value instead" .name (get $managed .name)) }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The alert groups of the PrometheusRule, as YAML `{groups: [...]}`: files/alerts.yaml (the
rule file promtool checks and tests) with, from the release,
  - the scrape job: job="trailwarden" in the file becomes the chart's full name (the
    metrics Service's name, and so the ServiceMonitor's job);
  - the part of each runbook_url before its '#' (prometheusRule.runbookBaseUrl);
  - the `for` of TrailDriftPersisting (prometheusRule.driftPersistingFor);
  - prometheusRule.alertLabels added to every alert, below the alert's own labels;
  - prometheusRule.alerts.<name>: enabled: false leaves the alert out, `for` replaces its
    `for` (TrailDriftPersisting's included), `labels` are added, `severity` replaces its
    severity label.
A group left without rules is left out. A name in prometheusRule.alerts that is no alert
of the file fails the render.
*/}}
{{- define "trailwarden.alertGroups" -}}
{{- $values := .Values.prometheusRule }}
{{- $rules := .Files.Get "files/alerts.yaml" | fromYaml }}
{{- $job := printf "job=%q" (include "trailwarden.fullname" .) }}
{{- $overrides := $values.alerts | default dict }}
{{- $known := list }}
{{- $groups := list }}
{{- range $group := $rules.groups }}
{{- $kept := list }}
{{- range $rule := $group.rules }}
{{- $name := toString $rule.alert }}
{{- $known = append $known $name }}
{{- $override := get $overrides $name | default dict }}
{{- if eq $name "TrailDriftPersisting" }}
{{- $_ := set $rule "for" $values.driftPersistingFor }}
{{- end }}
{{- if and (eq $name "TrailwardenStalled") (ne (int $.Values.stallSeconds) 300) }}
{{- /* The stall the alert waits for is the one /healthz fails on (stallSeconds). */}}
{{- $_ := set $rule "expr" (replace "> 300" (printf "> %d" (int $.Values.stallSeconds)) $rule.expr) }}
{{- with $rule.annotations }}
{{- $_ := set . "summary" (replace "more than 5 minutes" (printf "more than %d seconds" (int $.Values.stallSeconds)) .summary) }}
{{- $_ := set . "description" (replace "more than 5 minutes" (printf "more than %d seconds" (int $.Values.stallSeconds)) .description) }}
{{- end }}
{{- end }}
{{- with $override.for }}
{{- $_ := set $rule "for" . }}
{{- end }}
{{- $_ := set $rule "expr" (replace "job=\"trailwarden\"" $job $rule.expr) }}
{{- with $rule.annotations }}
{{- if .runbook_url }}
{{- $_ := set . "runbook_url" (printf "%s#%s" $values.runbookBaseUrl (splitList "#" .runbook_url | last)) }}
{{- end }}
{{- end }}
{{- $labels := mergeOverwrite (dict) ($values.alertLabels | default dict) ($rule.labels | default dict) ($override.labels | default dict) }}
{{- with $override.severity }}
{{- $_ := set $labels "severity" . }}
{{- end }}
{{- if $labels }}
{{- $_ := set $rule "labels" $labels }}
{{- end }}
{{- if not (and (hasKey $override "enabled") (not $override.enabled)) }}
{{- $kept = append $kept $rule }}
{{- end }}
{{- end }}
{{- if $kept }}
{{- $_ := set $group "rules" $kept }}
{{- $groups = append $groups $group }}
{{- end }}
{{- end }}
{{- range $name := keys $overrides | sortAlpha }}
{{- if not (has $name $known) }}
{{- fail (printf "prometheusRule.alerts.%s: files/alerts.yaml has no alert of that name; its alerts are %s" $name (join ", " $known)) }}
{{- end }}
{{- end }}
{{- toYaml (dict "groups" $groups) }}
{{- end -}}

{{/* Labels of the `helm test` pod that the NetworkPolicy admits. They differ from the
controller's selector labels, so no Service, PodDisruptionBudget or anti-affinity of the
controller ever counts the test pod. */}}
{{- define "trailwarden.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "trailwarden.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The label selector of this release's TrailPolicies: `selector`, and with `shard` set, the
shard's label too (trailwarden.dev/shard=<shard>). Empty: every policy.
*/}}
{{- define "trailwarden.selector" -}}
{{- $parts := list }}
{{- with .Values.selector }}{{ $parts = append $parts . }}{{ end }}
{{- with .Values.shard }}{{ $parts = append $parts (printf "trailwarden.dev/shard=%s" .) }}{{ end }}
{{- join "," $parts }}
{{- end }}

{{/*
The Lease this release's replicas elect a leader with: leaderElection.leaseName, and with
`shard` set, one per shard.
*/}}
{{- define "trailwarden.leaseName" -}}
{{- if .Values.shard }}{{ printf "%s-%s" .Values.leaderElection.leaseName .Values.shard | trunc 63 | trimSuffix "-" }}{{ else }}{{ .Values.leaderElection.leaseName }}{{ end }}
{{- end }}
