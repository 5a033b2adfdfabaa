{{/*
The rules the chart's two ValidatingAdmissionPolicies share (templates/
validatingadmissionpolicy.yaml says what they mean and why): each rule is written here
once, and rendered for the TrailPolicy policy (on spec) and for the TrailPolicySet policy
(on spec.template). Each template takes a dict:

  root        the chart's top context (.Values)
  spec        where the TrailPolicy spec lies under object / oldObject: "spec" for a
              TrailPolicy, "spec.template" for a TrailPolicySet. Field names in messages
              are written from it too ("spec.adoption", "spec.template.adoption").
  deletion    the field whose Delete deletes trails, under object / oldObject:
              "spec.deletionPolicy" for a TrailPolicy, "spec.accountRemoval" for a set
  kind        the resource's kind, as messages name it
  deletes     what a DELETE of an object whose `deletion` is Delete takes with it
  bucketFrom  where floor.bucketAccounts reads the log bucket's account, as messages say
  keyFrom     where floor.keyAccounts reads the KMS key's account, as messages say

  trailwarden.admission.variables   the variables after `privileged` (the caller's own)
  trailwarden.admission.privileged  the validations reserved to the privileged
  trailwarden.admission.floor       the operator's floor (empty when no floor is set)

Each renders list items at column 0 (nindent them) and nothing around them.
*/}}

{{- /* "has(object.spec)" or "has(object.spec) && has(object.spec.template)": every step
of the path `spec` under `object` (the first argument's name) guarded by has(). */ -}}
{{- define "trailwarden.admission.guard" -}}
{{- $path := index . 0 }}
{{- $steps := list }}
{{- range splitList "." (index . 1) }}
{{- $path = printf "%s.%s" $path . }}
{{- $steps = append $steps (printf "has(%s)" $path) }}
{{- end }}
{{- join " && " $steps }}
{{- end -}}

{{- /* The people the privileged validations name, as their messages say it. */ -}}
{{- define "trailwarden.admission.who" -}}
{{- $groups := index . 0 }}
{{- $verb := index . 1 }}
{{- if $groups -}}
{{- printf "only members of the groups %s may %s it" (join ", " $groups) $verb -}}
{{- else -}}
{{- printf "no one may %s it (admissionPolicy.privilegedGroups is empty)" $verb -}}
{{- end -}}
{{- end -}}

{{- define "trailwarden.admission.variables" -}}
{{- $floor := .root.Values.floor }}
{{- $s := printf "object.%s" .spec }}
{{- $o := printf "oldObject.%s" .spec }}
{{- $has := include "trailwarden.admission.guard" (list "object" .spec) }}
{{- $hasOld := include "trailwarden.admission.guard" (list "oldObject" .spec) }}
{{- $d := .deletion -}}
- name: updating
  expression: "request.operation == 'UPDATE' && oldObject != null && {{ $hasOld }}"
- name: adoptionAlways
  expression: "object != null && {{ $has }} && has({{ $s }}.adoption) && {{ $s }}.adoption == 'Always'"
- name: wasAdoptionAlways
  expression: "variables.updating && has({{ $o }}.adoption) && {{ $o }}.adoption == 'Always'"
- name: deletionDelete
  expression: "object != null && has(object.spec) && has(object.{{ $d }}) && object.{{ $d }} == 'Delete'"
- name: wasDeletionDelete
  expression: "variables.updating && has(oldObject.{{ $d }}) && oldObject.{{ $d }} == 'Delete'"
- name: bucketManage
  expression: >-
    object != null && {{ $has }} && has({{ $s }}.posture) && has({{ $s }}.posture.bucket) &&
    has({{ $s }}.posture.bucket.manage) && {{ $s }}.posture.bucket.manage == true
- name: wasBucketManage
  expression: >-
    variables.updating && has({{ $o }}.posture) && has({{ $o }}.posture.bucket) &&
    has({{ $o }}.posture.bucket.manage) && {{ $o }}.posture.bucket.manage == true
- name: kmsManage
  expression: >-
    object != null && {{ $has }} && has({{ $s }}.posture) && has({{ $s }}.posture.kms) &&
    has({{ $s }}.posture.kms.manage) && {{ $s }}.posture.kms.manage == true
- name: wasKmsManage
  expression: >-
    variables.updating && has({{ $o }}.posture) && has({{ $o }}.posture.kms) &&
    has({{ $o }}.posture.kms.manage) && {{ $o }}.posture.kms.manage == true
# An UPDATE that moves a managed bucket or key. An absent keyPrefix and an empty one
# are the same prefix.
- name: movesBucket
  expression: >-
    variables.updating && object != null && {{ $has }} &&
    (variables.bucketManage || variables.wasBucketManage)
- name: bucketNameChanged
  expression: >-
    variables.movesBucket &&
    (has({{ $s }}.s3) ? {{ $s }}.s3.bucketName : '') != (has({{ $o }}.s3) ? {{ $o }}.s3.bucketName : '')
- name: keyPrefixChanged
  expression: >-
    variables.movesBucket &&
    (has({{ $s }}.s3) && has({{ $s }}.s3.keyPrefix) ? {{ $s }}.s3.keyPrefix : '') !=
    (has({{ $o }}.s3) && has({{ $o }}.s3.keyPrefix) ? {{ $o }}.s3.keyPrefix : '')
- name: logArchiveChanged
  expression: >-
    variables.movesBucket &&
    (has({{ $s }}.logArchive) != has({{ $o }}.logArchive) ||
     (has({{ $s }}.logArchive) && {{ $s }}.logArchive != {{ $o }}.logArchive))
- name: kmsKeyIdChanged
  expression: >-
    variables.updating && object != null && {{ $has }} &&
    (variables.kmsManage || variables.wasKmsManage) &&
    (has({{ $s }}.kmsKeyId) ? {{ $s }}.kmsKeyId : '') != (has({{ $o }}.kmsKeyId) ? {{ $o }}.kmsKeyId : '')
# DELETE of {{ if eq .kind "TrailPolicy" }}a policy that takes its trail{{ else }}a set that takes its policies and their trails{{ end }} with it.
- name: deletesTrail
  expression: >-
    request.operation == 'DELETE' && oldObject != null && has(oldObject.spec) &&
    has(oldObject.{{ $d }}) && oldObject.{{ $d }} == 'Delete'
# The floor applies to a CREATE, and to an UPDATE that changes {{ if eq .spec "spec" }}the spec{{ else }}{{ .spec }}{{ end }}.
- name: floorApplies
  expression: >-
    object != null && {{ $has }} &&
    (request.operation == 'CREATE' || (variables.updating && {{ $s }} != {{ $o }}))
{{- if $floor.bucketAccounts }}
{{- if eq .kind "TrailPolicy" }}
# The log bucket's account: spec.logArchive.accountId, else the account field of
# spec.account.roleArn; '' when neither is set (the controller's own account, which
# only the controller knows).
{{- else }}
# The log bucket's account: {{ .spec }}.logArchive.accountId, else ''. The template
# has no account (the set fills it in per account), so a bucket in each account's own
# account is judged on each generated policy, not here.
{{- end }}
- name: bucketAccount
  expression: >-
    !variables.floorApplies ? '' :
    has({{ $s }}.logArchive) && has({{ $s }}.logArchive.accountId) ? {{ $s }}.logArchive.accountId :
    has({{ $s }}.account) && has({{ $s }}.account.roleArn) && size({{ $s }}.account.roleArn.split(':')) > 4 ?
    {{ $s }}.account.roleArn.split(':')[4] : ''
{{- end }}
{{- if $floor.keyAccounts }}
{{- if eq .kind "TrailPolicy" }}
# The KMS key's account: the account field of kmsKeyId when it is an ARN. An alias or a
# key id names a key of the trail's own account (as the controller resolves it), which
# is the account of spec.account.roleArn; '' when that is not set either, or when
# there is no key.
{{- else }}
# The KMS key's account: the account field of {{ .spec }}.kmsKeyId when it is an ARN,
# else '' (an alias or a key id names a key of each generated policy's own account,
# judged on that policy, not here).
{{- end }}
- name: keyAccount
  expression: >-
    !variables.floorApplies || !has({{ $s }}.kmsKeyId) || {{ $s }}.kmsKeyId == null ? '' :
    {{ $s }}.kmsKeyId.startsWith('arn:') && size({{ $s }}.kmsKeyId.split(':')) > 4 ? {{ $s }}.kmsKeyId.split(':')[4] :
    has({{ $s }}.account) && has({{ $s }}.account.roleArn) && size({{ $s }}.account.roleArn.split(':')) > 4 ?
    {{ $s }}.account.roleArn.split(':')[4] : ''
{{- end }}
{{- end -}}

{{- define "trailwarden.admission.privileged" -}}
{{- $groups := .root.Values.admissionPolicy.privilegedGroups }}
{{- $who := include "trailwarden.admission.who" (list $groups "set") }}
{{- $whoChange := include "trailwarden.admission.who" (list $groups "change") }}
{{- $whoDelete := include "trailwarden.admission.who" (list $groups "delete") }}
{{- $f := printf "%s." .spec -}}
- expression: "!variables.adoptionAlways || variables.wasAdoptionAlways || variables.privileged"
  reason: Forbidden
  message: {{ printf "%sadoption: Always is refused: %s" $f $who | quote }}
- expression: "!variables.deletionDelete || variables.wasDeletionDelete || variables.privileged"
  reason: Forbidden
  message: {{ printf "%s: Delete is refused: %s" .deletion $who | quote }}
- expression: "!variables.bucketManage || variables.wasBucketManage || variables.privileged"
  reason: Forbidden
  message: {{ printf "%sposture.bucket.manage: true is refused: %s" $f $who | quote }}
- expression: "!variables.kmsManage || variables.wasKmsManage || variables.privileged"
  reason: Forbidden
  message: {{ printf "%sposture.kms.manage: true is refused: %s" $f $who | quote }}
- expression: "!variables.bucketNameChanged || variables.privileged"
  reason: Forbidden
  message: {{ printf "%ss3.bucketName may not change while %sposture.bucket.manage is true (the new bucket's policy would be rewritten): %s" $f $f $whoChange | quote }}
- expression: "!variables.keyPrefixChanged || variables.privileged"
  reason: Forbidden
  message: {{ printf "%ss3.keyPrefix may not change while %sposture.bucket.manage is true (the bucket's policy would be rewritten for the new prefix): %s" $f $f $whoChange | quote }}
- expression: "!variables.logArchiveChanged || variables.privileged"
  reason: Forbidden
  message: {{ printf "%slogArchive may not change while %sposture.bucket.manage is true (the bucket's policy would be rewritten in the new account): %s" $f $f $whoChange | quote }}
- expression: "!variables.kmsKeyIdChanged || variables.privileged"
  reason: Forbidden
  message: {{ printf "%skmsKeyId may not change while %sposture.kms.manage is true (the new key's policy would be rewritten): %s" $f $f $whoChange | quote }}
- expression: "!variables.deletesTrail || variables.privileged"
  reason: Forbidden
  message: {{ printf "deleting a %s whose %s is Delete is refused (%s): %s" .kind .deletion .deletes $whoDelete | quote }}
{{- end -}}

{{- define "trailwarden.admission.floor" -}}
{{- $floor := .root.Values.floor }}
{{- $s := printf "object.%s" .spec }}
{{- $f := printf "%s." .spec }}
{{- if $floor.logging }}
- expression: "!variables.floorApplies || !has({{ $s }}.logging) || {{ $s }}.logging"
  reason: Invalid
  message: {{ printf "%slogging: false is below the operator's floor (floor.logging): every trail must log" $f | quote }}
{{- end }}
{{- if $floor.multiRegion }}
- expression: "!variables.floorApplies || !has({{ $s }}.multiRegion) || {{ $s }}.multiRegion"
  reason: Invalid
  message: {{ printf "%smultiRegion: false is below the operator's floor (floor.multiRegion): every trail must record all regions" $f | quote }}
{{- end }}
{{- if $floor.logFileValidation }}
- expression: "!variables.floorApplies || !has({{ $s }}.logFileValidation) || {{ $s }}.logFileValidation"
  reason: Invalid
  message: {{ printf "%slogFileValidation: false is below the operator's floor (floor.logFileValidation): every trail must deliver digest files" $f | quote }}
{{- end }}
{{- if $floor.kms }}
# kmsKeyId is nullable: `has()` is true of an explicit null, which names no key.
- expression: "!variables.floorApplies || (has({{ $s }}.kmsKeyId) && {{ $s }}.kmsKeyId != null && {{ $s }}.kmsKeyId != '')"
  reason: Invalid
  message: {{ printf "a %s without %skmsKeyId is below the operator's floor (floor.kms): every trail must encrypt its logs with a KMS key" .kind $f | quote }}
{{- end }}
{{- if $floor.managementEvents }}
# Every management event, read and write, from every source, judged as the controller
# judges it (crates/core/src/posture/selectors.rs). Basic selectors: some selector that
# includes management events (the default) must cover reads (readWriteType All, the
# default, or ReadOnly) and some must cover writes, and no event source may be
# excluded by every selector covering a direction. No selectors at all is AWS's
# default, which records them all.
- expression: >-
    !variables.floorApplies || !has({{ $s }}.eventSelectors) || size({{ $s }}.eventSelectors) == 0 ||
    ['ReadOnly', 'WriteOnly'].all(other, [{{ $s }}.eventSelectors.filter(s,
        (!has(s.includeManagementEvents) || s.includeManagementEvents) &&
        (!has(s.readWriteType) || s.readWriteType != other))].all(covering,
      size(covering) > 0 &&
      !covering.exists(s, has(s.excludeManagementEventSources) && s.excludeManagementEventSources.exists(source,
        covering.all(t, has(t.excludeManagementEventSources) && source in t.excludeManagementEventSources)))))
  reason: Invalid
  message: {{ printf "%seventSelectors is below the operator's floor (floor.managementEvents): they must record every management event, read and write, from every source (a selector with includeManagementEvents: true and readWriteType: All, the defaults, and no excludeManagementEventSources does)" $f | quote }}
# Advanced selectors: for reads and for writes, some selector whose field selectors are
# all Equals only, with eventCategory among [Management] and, if there is a readOnly,
# "true" (reads) or "false" (writes) among its values. Any other field (eventSource,
# eventName, ...) or operator narrows the selector and it does not count.
- expression: >-
    !variables.floorApplies || !has({{ $s }}.advancedEventSelectors) || size({{ $s }}.advancedEventSelectors) == 0 ||
    ['true', 'false'].all(readOnly, {{ $s }}.advancedEventSelectors.exists(s,
      s.fieldSelectors.exists(f, f.field == 'eventCategory') &&
      s.fieldSelectors.all(f,
        has(f.equals) && size(f.equals) > 0 &&
        (!has(f.startsWith) || size(f.startsWith) == 0) && (!has(f.endsWith) || size(f.endsWith) == 0) &&
        (!has(f.notEquals) || size(f.notEquals) == 0) && (!has(f.notStartsWith) || size(f.notStartsWith) == 0) &&
        (!has(f.notEndsWith) || size(f.notEndsWith) == 0) &&
        ((f.field == 'eventCategory' && 'Management' in f.equals) || (f.field == 'readOnly' && readOnly in f.equals)))))
  reason: Invalid
  message: {{ printf "%sadvancedEventSelectors is below the operator's floor (floor.managementEvents): they must record every management event, read and write (a selector whose only field selector is eventCategory equals [Management] does)" $f | quote }}
{{- end }}
{{- with $floor.bucketAccounts }}
- expression: {{ printf "variables.bucketAccount == '' || variables.bucketAccount in %s" (toJson .) | quote }}
  reason: Invalid
  message: {{ printf "the log bucket's account (%s) is below the operator's floor (floor.bucketAccounts): it must be one of %s" $.bucketFrom (join ", " .) | quote }}
  messageExpression: {{ printf "'the log bucket\\'s account ' + variables.bucketAccount + ' (%s) is below the operator\\'s floor (floor.bucketAccounts): it must be one of %s'" $.bucketFrom (join ", " .) | quote }}
{{- end }}
{{- with $floor.keyAccounts }}
- expression: {{ printf "variables.keyAccount == '' || variables.keyAccount in %s" (toJson .) | quote }}
  reason: Invalid
  message: {{ printf "the KMS key's account (%s) is below the operator's floor (floor.keyAccounts): it must be one of %s" $.keyFrom (join ", " .) | quote }}
  messageExpression: {{ printf "'the KMS key\\'s account ' + variables.keyAccount + ' (%s) is below the operator\\'s floor (floor.keyAccounts): it must be one of %s'" $.keyFrom (join ", " .) | quote }}
{{- end }}
{{- end -}}
