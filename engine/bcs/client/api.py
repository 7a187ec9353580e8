"""RPC methods of the BITS client: jobs, their files and their lifecycle.

Contract declared by the foundation; the handlers are implemented by the client work (issue 4).
Job objects carry the BITS names: jobState Queued/Connecting/Transferring/Suspended/Error/
TransientError/Transferred/Acknowledged/Cancelled, priority Foreground/High/Normal/Low,
transferType Download/Upload/UploadReply.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bcs import tunables
from bcs.client.service import Caller, JobService
from bcs.rpc.registry import CallContext, Param, rpc_method

__all__: list[str] = []

JOB_ID = Param("jobId", "string", "The job's GUID.", required=True)
DISPLAY_NAME = Param(
    "displayName",
    "string",
    f"Display name (at most {tunables.DISPLAY_NAME_MAX} characters).",
    max_length=tunables.DISPLAY_NAME_MAX,
)
PRIORITIES = ("Foreground", "High", "Normal", "Low")
FILE_FIELDS = (
    Param("remoteUrl", "string", "http(s) URL of the remote file.", required=True),
    Param("localPath", "string", "Absolute path of the local file.", required=True),
    Param(
        "sha256",
        "string",
        "Download jobs: the file's expected SHA-256 (64 hex digits); a file with other content fails "
        "the job (CRYPT_E_HASH_VALUE) before Complete can commit it.",
        max_length=64,
    ),
)
CREDENTIAL_FIELDS = (
    Param("target", "string", "Server or Proxy.", enum=("Server", "Proxy"), default="Server"),
    Param(
        "scheme",
        "string",
        "Authentication scheme.",
        enum=("Basic", "Digest", "NTLM", "Negotiate"),
        required=True,
    ),
    Param(
        "userName",
        "string",
        "User name (DOMAIN\\user or user@REALM); empty = the engine's own logon.",
        default="",
        max_length=300,
    ),
    Param(
        "password",
        "string",
        "Password; never logged, never returned.",
        default="",
        secret=True,
        max_length=65535,
    ),
)
_SETTABLE = (
    DISPLAY_NAME,
    Param(
        "description",
        "string",
        f"Description (at most {tunables.DESCRIPTION_MAX} characters).",
        max_length=tunables.DESCRIPTION_MAX,
    ),
    Param("priority", "string", "Job priority.", enum=PRIORITIES),
    Param(
        "minimumRetryDelay",
        "integer",
        "Seconds to wait after a transient error before retrying (default 600, at least 5).",
        minimum=5,
    ),
    Param(
        "noProgressTimeout",
        "integer",
        "Seconds without progress after which a transient error becomes fatal (default 1209600).",
        minimum=0,
    ),
    Param(
        "maxDownloadTime",
        "integer",
        "Seconds the job may take in all before it fails (default 7776000).",
        minimum=0,
    ),
    Param("customHeaders", "array", "Extra request headers, 'Name: value'.", items="string"),
    Param(
        "credentials",
        "array",
        "Credentials per (target, scheme); replaces earlier ones with the same pair.",
        fields=CREDENTIAL_FIELDS,
    ),
    Param(
        "proxyUsage",
        "string",
        "Proxy selection.",
        enum=("SystemDefault", "NoProxy", "Override", "AutoDetect"),
    ),
    Param("proxyList", "array", "Proxy URLs (with proxyUsage Override).", items="string"),
    Param(
        "proxyBypass", "array", "Host names that bypass the proxy (with proxyUsage Override).", items="string"
    ),
    Param(
        "securityFlags", "integer", "BITS security flags (redirect policy, certificate checks).", minimum=0
    ),
    Param(
        "caBundle",
        "string",
        "PEM file of CA certificates that verify HTTPS servers (default: the system store).",
    ),
    Param("clientCertificate", "string", "PEM file holding the client certificate and key for HTTPS."),
    Param("bandwidthLimit", "integer", "Bytes/s for this job; 0 = unlimited.", minimum=0),
    Param(
        "dynamic",
        "boolean",
        "Dynamic content: download without size or Range support (restarts from 0 on interruption).",
    ),
)


def _service(ctx: CallContext) -> tuple[JobService, Caller]:
    service: JobService = ctx.engine.services["client"]
    return service, Caller(ctx.peer_uid, ctx.peer_name)


@rpc_method(
    "job.create",
    "Create a job with its files; it starts at once unless suspended is true. Download jobs take "
    "remote URLs and local destinations; Upload and UploadReply jobs take one file: the local file "
    "to upload (localPath) and the URL it goes to (remoteUrl).",
    params=[
        dataclasses.replace(DISPLAY_NAME, default="BITS Transfer"),
        Param(
            "type", "string", "Transfer type.", enum=("Download", "Upload", "UploadReply"), default="Download"
        ),
        Param(
            "files",
            "array",
            "Files of the job, transferred in order (uploads: exactly one).",
            fields=FILE_FIELDS,
        ),
        Param("suspended", "boolean", "Create the job suspended (Resume starts it).", default=False),
        Param(
            "replyFileName",
            "string",
            "UploadReply jobs: absolute path the server application's reply is written to by "
            "Complete (default: <local file>.<job id>.reply beside the local file).",
        ),
        *[p for p in _SETTABLE if p.name != "displayName"],
    ],
    result="Job",
    cmdlet="Start-BcsJob",
)
def job_create(ctx: CallContext, **params: Any) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.create(caller, params)


@rpc_method(
    "job.addFile",
    "Add a file to a job (download jobs; not in a final state).",
    params=[JOB_ID, *FILE_FIELDS],
    result="Job",
    cmdlet="Add-BcsFile",
)
def job_add_file(
    ctx: CallContext, job_id: str, remote_url: str, local_path: str, sha256: str | None
) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.add_file(caller, job_id, remote_url, local_path, sha256 or "")


@rpc_method(
    "job.list",
    "List jobs that are not final (Acknowledged/Cancelled jobs are gone).",
    params=[
        Param("name", "string", "Wildcard pattern on the display name (* and ?)."),
        Param("allUsers", "boolean", "Jobs of every user (root/administrators only).", default=False),
    ],
    result="Job[]",
    read_only=True,
    cmdlet="Get-BcsJob",
)
def job_list(ctx: CallContext, name: str | None, all_users: bool) -> list[dict[str, Any]]:
    service, caller = _service(ctx)
    return service.list(caller, name, all_users)


@rpc_method(
    "job.get",
    "Get one job with its files, progress and error; an UploadReply job's reply as replyData "
    "(base64) once it is transferred and at most 1 MB (GetReplyData).",
    params=[JOB_ID],
    result="Job",
    read_only=True,
    cmdlet="Get-BcsJob",
)
def job_get(ctx: CallContext, job_id: str) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.get(caller, job_id)


@rpc_method(
    "job.set",
    "Change settable properties of a job.",
    params=[JOB_ID, *_SETTABLE],
    result="Job",
    cmdlet="Set-BcsJob",
)
def job_set(ctx: CallContext, job_id: str, **params: Any) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.set(caller, job_id, params)


@rpc_method(
    "job.suspend",
    "Suspend a job (from any non-final state).",
    params=[JOB_ID],
    result="Job",
    cmdlet="Suspend-BcsJob",
)
def job_suspend(ctx: CallContext, job_id: str) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.suspend(caller, job_id)


@rpc_method(
    "job.resume",
    "Queue a suspended or failed job again.",
    params=[JOB_ID],
    result="Job",
    cmdlet="Resume-BcsJob",
)
def job_resume(ctx: CallContext, job_id: str) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.resume(caller, job_id)


@rpc_method(
    "job.complete",
    "Commit the transferred files to their destinations; the job becomes Acknowledged.",
    params=[JOB_ID],
    result="Job",
    cmdlet="Complete-BcsJob",
)
def job_complete(ctx: CallContext, job_id: str) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.complete(caller, job_id)


@rpc_method(
    "job.cancel",
    "Cancel a job and delete its temporary files; the job becomes Cancelled.",
    params=[JOB_ID],
    result="Job",
    cmdlet="Remove-BcsJob",
)
def job_cancel(ctx: CallContext, job_id: str) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.cancel(caller, job_id)


@rpc_method(
    "job.wait",
    "Long-poll: return the job when its state or progress changed since changeCount, or when timeout expires.",
    params=[
        JOB_ID,
        Param(
            "changeCount",
            "integer",
            "The job's changeCount last seen; 0 returns at once.",
            default=0,
            minimum=0,
        ),
        Param("timeout", "number", "Seconds to wait at most (0-300).", default=30, minimum=0, maximum=300),
    ],
    result="Job",
    read_only=True,
    cmdlet="Wait-BcsJob",
)
def job_wait(ctx: CallContext, job_id: str, change_count: int, timeout: float) -> dict[str, Any]:
    service, caller = _service(ctx)
    return service.wait(caller, job_id, change_count, timeout)
