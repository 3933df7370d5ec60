"""Per-target claims: one run at a time changes a target, whoever runs it.

Two `irctl contain instance X --apply` at once, or the CLI racing the automation Lambda,
must not undo each other. Before a run plans anything it means to apply, it claims each
target with a conditional write in the evidence bucket (`If-None-Match: *`), so of two
runs exactly one holds a target; the other waits (bounded, with a progress line) and then
plans against the live state the holder left, finding the work already done.

Key: `locks/<account>/<region>/<target, URL-quoted>.json`, under its own prefix so that
no evidence lifecycle rule (archive to Glacier) applies to it. A claim names its owner,
case, host, pid and expiry; it is given back by overwriting it `released` (`If-Match` on
its ETag: only PutObject/GetObject are needed, and Object Lock never has to allow a
delete). A claim whose holder is gone is taken over with `If-Match` on its ETag: when it
is released, expired, or held by a process of this host that no longer exists (a killed
terminal).

Evidence storage must not stand between a responder and containment: when the bucket
cannot be written for another reason than the claim being held (throttled, 5xx, access
denied, unreachable), the run proceeds unclaimed and says so in a warning; rollback and
release still act only where the live state is the one this run recorded.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

PREFIX = "locks"
DEFAULT_TTL_SECONDS = 900.0
"""A claim not given back (its holder killed on another host) is free after this."""
DEFAULT_WAIT_SECONDS = 120.0
"""How long a run waits for another run's claim before refusing the target."""
POLL_SECONDS = 1.0
HELD_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")

Listener = Callable[[str, str], None]


def claim_key(account: str, region: str, target: str) -> str:
    return f"{PREFIX}/{account}/{region}/{quote(target, safe='')}.json"


def this_host() -> str:
    """The host name, plus the kernel's boot id where there is one: Lambda sandboxes (one
    micro-VM each) may share a host name, and a pid is only meaningful on its own boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            return f"{socket.gethostname()} boot {boot.read().strip()}"
    except OSError:
        return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def describe_holder(document: Mapping[str, Any]) -> str:
    return (f"case {document.get('case', '?')} ({document.get('owner', '?')}, pid "
            f"{document.get('pid', '?')} on {document.get('host', '?')}, since "
            f"{document.get('since', '?')}, expires {document.get('expires', '?')})")


@dataclass
class TargetClaims:
    """Claims of one run on its targets, in one account and region's evidence bucket."""

    s3: Any
    bucket: str
    encryption: Mapping[str, str]
    account: str
    region: str
    case_id: str
    owner: str = field(default_factory=lambda: "automation " + os.environ[
        "AWS_LAMBDA_FUNCTION_NAME"] if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else "irctl")
    ttl: float = DEFAULT_TTL_SECONDS
    wait: float = DEFAULT_WAIT_SECONDS
    listener: Listener = field(default=lambda target, message: None)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    held: dict[str, str] = field(default_factory=dict)
    """target -> ETag of our claim."""
    warnings: list[str] = field(default_factory=list)
    mapper: Callable[[Callable[[str], None], Sequence[str]], None] | None = None
    """Runs a function over targets (the runner's bounded pool); None: one by one."""
    unavailable: str | None = None
    """Why the bucket could not take a claim: once set, the run's other targets go ahead
    unclaimed at once instead of each waiting through the same failing retries."""

    def _document(self) -> dict[str, Any]:
        now = self.clock()
        iso = lambda t: datetime.fromtimestamp(t, timezone.utc).strftime(  # noqa: E731
            "%Y-%m-%dT%H:%M:%SZ")
        return {"token": self.token, "owner": self.owner, "case": self.case_id,
                "host": this_host(), "pid": os.getpid(), "since": iso(now),
                "expiresAt": now + self.ttl, "expires": iso(now + self.ttl)}

    def _put(self, key: str, document: Mapping[str, Any], **condition: str) -> str:
        response = self.s3.put_object(
            Bucket=self.bucket, Key=key, ContentType="application/json",
            Body=json.dumps(document, sort_keys=True).encode("utf-8"),
            **condition, **self.encryption)
        return str(response.get("ETag", ""))

    def _stale(self, document: Mapping[str, Any]) -> bool:
        if document.get("released"):
            return True
        if float(document.get("expiresAt", 0)) <= self.clock():
            return True
        pid = document.get("pid")
        return (document.get("host") == this_host() and isinstance(pid, int)
                and pid != os.getpid() and not _pid_alive(pid))

    def try_claim(self, target: str) -> str | None:
        """One attempt: None when claimed (or unclaimable storage: warned), else who holds
        it."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = claim_key(self.account, self.region, target)
        if self.unavailable is not None:
            self.warnings.append(f"{target}: not claimed ({self.unavailable})")
            return None
        try:
            try:
                self.held[target] = self._put(key, self._document(), IfNoneMatch="*")
                return None
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in HELD_CODES:
                    raise
            try:
                existing = self.s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                    return "a claim given back just now"  # retried on the next poll
                raise
            document = json.loads(existing["Body"].read() or b"{}")
            if not self._stale(document):
                return describe_holder(document)
            try:
                self.held[target] = self._put(key, self._document(), IfMatch=existing["ETag"])
                return None
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in HELD_CODES:
                    raise
                return "another run that took over a stale claim"
        except (ClientError, BotoCoreError) as err:
            self.unavailable = (f"the evidence bucket could not take the claim: {err}; a "
                                "concurrent run on this target is not excluded")
            self.warnings.append(f"{target}: not claimed ({self.unavailable})")
            return None

    def claim_all(self, targets: Sequence[str],
                  mapper: Callable[[Callable[[str], None], Sequence[str]], None]
                  ) -> dict[str, str]:
        """Claim every target; return {target: why refused} for those still held by
        another run after waiting (then nothing is held).

        First one concurrent attempt each; if any is held elsewhere, give back what was
        taken and claim one by one in sorted order, waiting for each: two runs never wait
        on each other while each holds what the other needs."""
        self.mapper = mapper
        busy: dict[str, str] = {}

        def attempt(target: str) -> None:
            holder = self.try_claim(target)
            if holder is not None:
                busy[target] = holder

        mapper(attempt, list(targets))
        if not busy:
            return {}
        self.release_all()
        deadline = self.clock() + self.wait
        refused: dict[str, str] = {}
        for target in sorted(targets):
            while True:
                holder = self.try_claim(target)
                if holder is None:
                    break
                if self.clock() >= deadline:
                    refused[target] = holder
                    break
                left = max(0, int(deadline - self.clock()))
                self.listener(target, f"waiting for another run on this target: {holder} "
                                      f"(up to {left} s more)")
                self.sleep(POLL_SECONDS)
            if refused:
                break
        if refused:
            self.release_all()
        return refused

    def release_all(self) -> None:
        """Give back every claim held (best effort: an expired claim fades by itself)."""
        from botocore.exceptions import BotoCoreError, ClientError

        held, self.held = dict(self.held), {}

        def give_back(target: str) -> None:
            key = claim_key(self.account, self.region, target)
            try:
                self._put(key, {**self._document(), "released": True}, IfMatch=held[target])
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in HELD_CODES:
                    self.warnings.append(f"{target}: claim not given back ({err}); it "
                                         f"expires by itself within {int(self.ttl)} s")
            except BotoCoreError as err:
                self.warnings.append(f"{target}: claim not given back ({err}); it "
                                     f"expires by itself within {int(self.ttl)} s")

        if self.mapper is not None:
            self.mapper(give_back, list(held))
        else:
            for target in held:
                give_back(target)


# -- the automation Lambda's claim on a whole case ----------------------------------------
#
# Written directly, not through the runner: it decides whether this delivery of a finding
# may open the case at all (EventBridge is at-least-once; GuardDuty re-sends updated
# findings; Security Hub re-imports GuardDuty's), so it comes before the case's first
# run and is its own record of the outcome. A conditional put cannot be planned.

CASE_CLAIM_PREFIX = "automation/claims"


def case_claim_key(mode: str, case_id: str) -> str:
    return f"{CASE_CLAIM_PREFIX}/{mode}/{case_id}.json"


class ClaimArchived(Exception):  # noqa: N818 - a state, not a failure
    """The case's claim was moved to an archive storage class: claimed long ago."""


@dataclass
class CaseClaim:
    """The evidence-bucket object that says a finding is being (or was) handled."""

    s3: Any
    bucket: str
    key: str
    etag: str | None = None

    unrecorded: str | None = None
    """Why the claim could not be written (the evidence bucket failing): the finding is
    acted on unclaimed, since containment never waits on evidence storage."""

    def write(self, document: Mapping[str, Any], **conditions: str) -> None:
        response = self.s3.put_object(
            Bucket=self.bucket, Key=self.key, ContentType="application/json",
            Body=json.dumps(document, default=str, sort_keys=True).encode("utf-8"),
            **conditions)
        self.etag = response.get("ETag")

    def record(self, document: Mapping[str, Any]) -> str | None:
        """Write the claim's outcome; when the bucket cannot take it, say so instead of
        failing a containment that was made (a redelivery then re-plans: nothing to do)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from runbooks.core.evidence_queue import describe, is_queueable

        try:
            self.write(document)
        except (ClientError, BotoCoreError) as err:
            if not is_queueable(err):
                raise
            return f"claim {self.key} NOT recorded in the evidence bucket ({describe(err)})"
        return None


def claim_case(s3: Any, bucket: str, case_id: str, mode: str,
               document: Mapping[str, Any]) -> CaseClaim | None:
    """Claim a case for `mode`; None when another delivery already has it.

    The put is conditional (`If-None-Match: *`), so of two concurrent deliveries exactly
    one wins. A claim left `failed` by an earlier attempt is taken over (`If-Match` its
    ETag), so Lambda's retry of a failed containment runs again. Raises ClaimArchived
    when the claim was archived by a lifecycle rule (the case was claimed long ago).
    """
    from botocore.exceptions import ClientError

    claim = CaseClaim(s3, bucket, case_claim_key(mode, case_id))
    body = {**document, "status": "in-progress"}
    try:
        claim.write(body, IfNoneMatch="*")
        return claim
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
    try:
        existing = s3.get_object(Bucket=bucket, Key=claim.key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "InvalidObjectState":
            raise
        # Archived by a lifecycle rule (buckets deployed before claims were kept out of
        # the Glacier transition): the finding was claimed long ago. Raising would make
        # Lambda retry this delivery into the dead-letter queue and page.
        raise ClaimArchived(
            f"claim s3://{bucket}/{claim.key} is archived ("
            f"{err.response.get('Error', {}).get('StorageClass', 'Glacier')}, "
            f"InvalidObjectState): case {case_id} was claimed before it was archived; not "
            "acting on it again. Restore the object (aws s3api restore-object) to read its "
            "status.") from err
    previous = json.loads(existing["Body"].read() or b"{}")
    if previous.get("status") != "failed":
        return None
    try:
        claim.write({**body, "retryOf": previous.get("time")}, IfMatch=existing["ETag"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            return None  # another retry took it over first
        raise
    return claim
