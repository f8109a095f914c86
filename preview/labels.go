// Package preview is the shared domain of Catalyst Preview: how an environment is named,
// labelled and annotated in Kubernetes, and how it is read back. Trigger, reporter, CLI,
// console and MCP all go through it so that there is one definition of "an environment".
package preview

// Prefix is the label and annotation prefix of every key Catalyst writes.
const Prefix = "catalyst.dev/"

// Labels, on namespaces and PipelineRuns. Values must stay label-safe (63 chars, [a-z0-9A-Z._-]).
const (
	LabelManaged     = Prefix + "managed"     // "true" on everything Catalyst owns
	LabelRepo        = Prefix + "repo"        // RepoLabelValue(owner/repo)
	LabelPR          = Prefix + "pr"          // PR number, decimal
	LabelSHA         = Prefix + "sha"         // full 40-hex head SHA
	LabelKind        = Prefix + "kind"        // KindDeploy | KindCleanup (PipelineRuns)
	LabelEnvironment = Prefix + "environment" // EnvironmentPreview
	// LabelKeep on a PR namespace ("true") exempts it from the idle TTL and from gc --idle;
	// previewctl keep/unkeep set and remove it. A closed PR's environment goes regardless.
	LabelKeep = Prefix + "keep"
)

// Label values.
const (
	ManagedTrue        = "true"
	KindDeploy         = "deploy"
	KindCleanup        = "cleanup"
	EnvironmentPreview = "preview"
)

// Namespace annotations: the durable record of the pull request's desired state, written by the
// trigger's webhook handler and resync, read by the trigger's reconciler and the reporter.
const (
	AnnotationRepo              = Prefix + "repo-full"            // "owner/repo" as GitHub spells it
	AnnotationPRURL             = Prefix + "pr-url"               // html_url of the pull request
	AnnotationHeadSHA           = Prefix + "head-sha"             // newest head SHA seen
	AnnotationHeadUpdatedAt     = Prefix + "head-updated-at"      // RFC3339 pull_request.updated_at of that SHA
	AnnotationHeadBefore        = Prefix + "head-before"          // synchronize "before" SHA, to order same-second pushes
	AnnotationHeadSeenAt        = Prefix + "head-seen-at"         // RFC3339Nano time the trigger first recorded this head SHA
	AnnotationHeadRef           = Prefix + "head-ref"             // branch name
	AnnotationCloneURL          = Prefix + "clone-url"            // head repository clone URL (a fork's for fork PRs)
	AnnotationPRState           = Prefix + "pr-state"             // PRStateOpen | PRStateClosed | PRStateMerged
	AnnotationInstallationID    = Prefix + "installation-id"      // GitHub App installation ID
	AnnotationAuthor            = Prefix + "author"               // PR author login
	AnnotationAuthorAssociation = Prefix + "author-association"   // OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, ...
	AnnotationFork              = Prefix + "fork"                 // "true" when the head repository differs from the base
	AnnotationDraft             = Prefix + "draft"                // "true" | "false"
	AnnotationPRLabels          = Prefix + "pr-labels"            // JSON array of the PR's label names
	AnnotationApprovedSHA       = Prefix + "approved-sha"         // head SHA a collaborator approved with /ok-to-test
	AnnotationApprovedBy        = Prefix + "approved-by"          // login of that collaborator
	AnnotationApprovalRequestBy = Prefix + "approval-request-by"  // who commented /ok-to-test (permission not yet checked)
	AnnotationApprovalRequestAt = Prefix + "approval-request-sha" // head SHA the /ok-to-test was given for
	AnnotationRetestBy          = Prefix + "retest-by"            // who asked for the retest
	AnnotationRetestSHA         = Prefix + "retest-sha"           // SHA a /retest or Re-run asked for
	AnnotationRetestNonce       = Prefix + "retest-nonce"         // changes on every /retest so a second request is seen
	AnnotationCancelSHA         = Prefix + "cancel-sha"           // SHA whose runs a /cancel stopped
	AnnotationPreviewHost       = Prefix + "preview-host"         // host the preview is served at
	AnnotationPreviewURL        = Prefix + "preview-url"          // https://{preview-host}
	AnnotationLastEvent         = Prefix + "last-event"           // RFC3339 time of the last webhook or resync that changed the record
	AnnotationClosedAt          = Prefix + "closed-at"            // RFC3339 time the close was recorded
	AnnotationCommentID         = Prefix + "comment-id"           // the upserted PR comment (reporter)
	AnnotationCommentHash       = Prefix + "comment-hash"         // reporter: fingerprint of the comment last sent ("phase/hash")
	AnnotationNotice            = Prefix + "notice"               // trigger notice kind last posted (approval needed, ...)
	AnnotationNoticeCommentID   = Prefix + "notice-comment-id"    // comment ID of that notice
	AnnotationRemovalReported   = Prefix + "removal-reported"     // reporter wrote the final "environment removed" comment
	AnnotationProvisionedHash   = Prefix + "provisioned-hash"     // fingerprint of the namespace children last applied
	AnnotationProvisionedAt     = Prefix + "provisioned-at"       // RFC3339 time they were last applied
	AnnotationTokenExpiresAt    = Prefix + "token-expires-at"     // expiry of the installation token in the git token Secret
	AnnotationGate              = Prefix + "gate"                 // why no run starts: approval, draft, label, unconfigured, closed, removed ("" when none)

	// A removal request (previewctl delete or gc, or the TTL): the trigger tears the environment
	// down through the same path as a close (stop runs, cleanup, delete the namespace) and keeps
	// the record as a pending record, so that resync does not bring it back. It holds for the
	// head SHA it names: a later push (or /retest) deploys again. See RemovalRequested.
	AnnotationRemoveSHA    = Prefix + "remove-sha"    // head SHA whose environment is to be removed
	AnnotationRemoveBy     = Prefix + "remove-by"     // who asked (Kubernetes user name, or "catalyst (ttl)")
	AnnotationRemoveAt     = Prefix + "remove-at"     // RFC3339 time of the request
	AnnotationRemoveReason = Prefix + "remove-reason" // RemoveReasonDelete | RemoveReasonIdle | RemoveReasonGC...

	// The idle TTL's warning, posted once per head SHA as its own PR comment.
	AnnotationTTLWarnedSHA = Prefix + "ttl-warned-sha" // head SHA the warning was posted for
	AnnotationTTLWarnedAt  = Prefix + "ttl-warned-at"  // RFC3339 time it was posted (removal is not before this + the lead time)
	AnnotationTTLRemoveAt  = Prefix + "ttl-remove-at"  // RFC3339 time the warning announced
	AnnotationTTLCommentID = Prefix + "ttl-comment-id" // the warning comment, edited (not re-posted) in a later idle period
)

// PipelineRun annotations.
const (
	AnnotationAttempt       = Prefix + "attempt"        // 1-based attempt number for this SHA
	AnnotationQueuePosition = Prefix + "queue-position" // 1-based position while PipelineRunPending; removed when started
	AnnotationQueuedAt      = Prefix + "queued-at"      // RFC3339 time the run was created (FIFO order)
	AnnotationEventAt       = Prefix + "event-at"       // RFC3339 time of the PR event that caused the run (time-to-preview)
	AnnotationSupersededBy  = Prefix + "superseded-by"  // head SHA that made this run stop
	AnnotationStopReason    = Prefix + "stop-reason"    // superseded | closed | cancelled-by-user
	AnnotationRetryAfter    = Prefix + "retry-after"    // RFC3339: the next automatic infrastructure retry is not before this
	AnnotationCause         = Prefix + "cause"          // CauseEvent | CauseRetest | CauseRetry: why this attempt exists
	AnnotationRetestNonceOf = Prefix + "answers-retest" // the namespace's retest nonce this attempt answers
	AnnotationFailureClass  = Prefix + "failure-class"  // infrastructure | application (set by the trigger when classified)
	AnnotationCheckRunID    = Prefix + "check-run-id"   // reporter: the Check Run for this SHA
	AnnotationReportHash    = Prefix + "report-hash"    // reporter: fingerprint of the last report sent
	AnnotationReportedPhase = Prefix + "reported-"      // reporter: + phase ("reported-running"): fingerprint sent in that phase
)

// Reporter ledger annotations beyond the check run ID and report hash above: on PipelineRuns
// (check run) and on the PR namespace (comment).
const (
	AnnotationReportedAt     = Prefix + "report-at"          // run: RFC3339Nano time the check run was last written (progress edits are paced on it)
	AnnotationReportRefused  = Prefix + "report-refused"     // run: fingerprint GitHub refused for good (422, 404, 410, 403); not retried until the report changes
	AnnotationCheckRunIntent = Prefix + "check-run-creating" // run: RFC3339 time a check run create was sent; with no ID recorded it means "look it up first"
	AnnotationCommentAt      = Prefix + "comment-at"         // namespace: RFC3339Nano time the comment was last written
	AnnotationCommentRefused = Prefix + "comment-refused"    // namespace: comment fingerprint GitHub refused for good
	AnnotationOpenCheckRuns  = Prefix + "open-check-runs"    // namespace: JSON {sha: check run ID} not yet completed; completed when their run or the namespace goes
	AnnotationLastVerdict    = Prefix + "last-verdict"       // namespace: JSON of the last verdict the comment showed, kept (collapsed) in the removal comment
)

// AnnotationBuildTaskRun is set on the build task's CustomRun in the PR namespace by the build
// isolation controller: "namespace/name" of the TaskRun it mirrors in the builds namespace, whose
// pod holds the build's log.
const AnnotationBuildTaskRun = Prefix + "build-taskrun"

// Causes recorded in AnnotationCause.
const (
	CauseEvent  = "event"  // a push or open: the first attempt for a SHA
	CauseRetest = "retest" // /retest or Checks "Re-run"
	CauseRetry  = "retry"  // automatic retry after an infrastructure failure
)

// Label on ConfigMaps in the system namespace that record pull requests with no environment
// (untrusted author waiting for /ok-to-test, draft, unlabelled, unconfigured repository).
const (
	LabelPendingRecord = Prefix + "pending-record"
)

// Gates recorded in AnnotationGate.
const (
	GateApproval     = "approval"
	GateDraft        = "draft"
	GateLabel        = "label"
	GateUnconfigured = "unconfigured"
	GateClosed       = "closed"
	GateRemoved      = "removed" // a removal request holds for the head SHA (AnnotationRemoveSHA)
)

// Reasons recorded in AnnotationRemoveReason.
const (
	RemoveReasonDelete = "delete" // previewctl delete (or the console, or an MCP tool)
	RemoveReasonIdle   = "idle"   // the controller's TTL (preview.ttl)
	RemoveReasonGC     = "gc"     // previewctl gc: idle, closed or orphaned
)

// PR states recorded in AnnotationPRState.
const (
	PRStateOpen   = "open"
	PRStateClosed = "closed"
	PRStateMerged = "merged"
)

// Stop reasons recorded in AnnotationStopReason.
const (
	StopSuperseded = "superseded"
	StopClosed     = "closed"
	StopByUser     = "cancelled-by-user"
)

// FinalizerReport is held on a PR namespace by the reporter once it has commented, so that the
// comment is edited a last time ("environment removed") before the namespace goes away.
const FinalizerReport = Prefix + "report"

// Annotations on the Secrets the trigger copies into PR namespaces.
const (
	AnnotationCopiedFrom    = Prefix + "copied-from"    // namespace/name of the source Secret
	AnnotationSourceVersion = Prefix + "source-version" // uid/resourceVersion of the source when copied (never a hash of its data)
)

// GitTokenSecret is the Secret in each PR namespace holding the installation token (key "token")
// for the pipeline's git fetch: the trigger writes it, the reporter masks its value in logs.
const GitTokenSecret = "catalyst-git-token"

// Build isolation: the pipeline's build step is a Tekton custom task (BuildAPIVersion,
// BuildKind); the trigger's build controller runs it as a TaskRun of the catalyst-build Task in
// the builds namespace (config preview.buildNamespace) and mirrors it onto the CustomRun.
const (
	BuildAPIVersion = "catalyst.dev/v1alpha1"
	BuildKind       = "ImageBuild"
	// BuilderServiceAccount runs build pods: no RBAC, no token.
	BuilderServiceAccount = "catalyst-builder"
)

// Labels on build TaskRuns (and their pods and credentials Secrets) in the builds namespace,
// besides the labels copied from the CustomRun (the PipelineRun's: catalyst.dev/repo, pr, sha,
// tekton.dev/pipelineRun, tekton.dev/pipelineTask=build, ...).
const (
	LabelBuild           = Prefix + "build"            // "true" on everything the build controller writes there
	LabelRunNamespace    = Prefix + "run-namespace"    // the PR namespace of the CustomRun
	LabelCustomRun       = Prefix + "customrun"        // the CustomRun's name
	LabelCustomRunUID    = Prefix + "customrun-uid"    // the CustomRun's uid: a recreated CustomRun never adopts an old build
	LabelBuildsNamespace = Prefix + "builds-namespace" // "true" on the builds namespace itself
)
