{{/* registry/repository:tag, or registry/repository@digest when a digest is set. */}}
{{- define "split-image.image" -}}
{{- $ref := printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $ref .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}
