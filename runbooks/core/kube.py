"""The Kubernetes calls the EKS steps make, behind one small interface (`KubeClient`).

The steps (`runbooks/steps/eks.py`) see only `KubeClient`: get / list / label a pod,
get / list / create / delete a NetworkPolicy, list / get / cordon a node. The real
implementation, `HttpKubeClient`, speaks the Kubernetes REST API with the standard
library (`urllib`, `ssl`): the cluster's endpoint and certificate authority come from
`eks:DescribeCluster`, the bearer token is made the way aws-iam-authenticator and
`aws eks get-token` make it (a presigned STS GetCallerIdentity URL carrying the
`x-k8s-aws-id: <cluster>` header, `k8s-aws-v1.` + unpadded base64url), so the API server
maps the caller's IAM identity (the responder role) through the cluster's access entries
or aws-auth ConfigMap to the RBAC the README's "EKS: the responder's RBAC" section lists.

`kube_client(ctx, cluster)` is the one place a client is made. It always describes the
cluster in AWS first (the cluster must exist in the manifest's account and region and be
ACTIVE), then hands endpoint, CA and a token source to the active connector: the HTTPS
one, or one a test or the drill installs with `connector(...)` (the drill has no API
server: it fakes Kubernetes at this interface, never inside a step).
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode

from runbooks.core.errors import ActionFailed, PreconditionFailed

if TYPE_CHECKING:
    from runbooks.core.context import Context

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - the token format's version, not a secret
CLUSTER_ID_HEADER = "x-k8s-aws-id"
TOKEN_EXPIRES_SECONDS = 60
"""The presigned URL's X-Amz-Expires, as aws-iam-authenticator sets it; the API server
accepts a token for 15 minutes from its X-Amz-Date, so a token is made per client."""
REQUEST_TIMEOUT_SECONDS = 15.0

NETWORKING = "/apis/networking.k8s.io/v1"


class KubeApiError(ActionFailed):
    """The API server refused a call (or could not be reached: status 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def not_found(err: KubeApiError) -> bool:
    return err.status == 404


class KubeClient(Protocol):
    """The Kubernetes API calls irctl makes; objects are the API's JSON as dicts."""

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]: ...

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    def label_pod(self, namespace: str, name: str,
                  labels: Mapping[str, str | None]) -> dict[str, Any]:
        """Merge-patch the pod's labels; a None value removes that label."""
        ...

    def pod_log(self, namespace: str, name: str, container: str, limit_bytes: int) -> str:
        """The recent end of one container's log (at most `limit_bytes`)."""
        ...

    def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The policy, or None when there is none of that name."""
        ...

    def list_network_policies(self, namespace: str) -> list[dict[str, Any]]: ...

    def create_network_policy(self, namespace: str,
                              body: Mapping[str, Any]) -> dict[str, Any]: ...

    def delete_network_policy(self, namespace: str, name: str) -> None: ...

    def list_nodes(self) -> list[dict[str, Any]]: ...

    def get_node(self, name: str) -> dict[str, Any]: ...

    def set_unschedulable(self, name: str, unschedulable: bool) -> dict[str, Any]:
        """Cordon (True) or uncordon (False) a node, as `kubectl cordon` does."""
        ...


@dataclass(frozen=True)
class ClusterEndpoint:
    """What `eks:DescribeCluster` says about reaching a cluster's API server."""

    name: str
    arn: str
    endpoint: str
    certificate_authority: str  # base64 of the PEM bundle, as EKS returns it


TokenSource = Callable[[], str]
Connector = Callable[[ClusterEndpoint, TokenSource], KubeClient]


def eks_token(credentials: Any, sts_endpoint: str, region: str, cluster: str) -> str:
    """A bearer token for `cluster`'s API server, made like aws-iam-authenticator's:
    GET `sts_endpoint/?Action=GetCallerIdentity&Version=2011-06-15` presigned (SigV4
    query auth, 60 s) with the signed header `x-k8s-aws-id: <cluster>`, base64url
    without padding, after `k8s-aws-v1.`. `credentials` are botocore's (frozen or not);
    nothing is sent to AWS here: the API server calls STS with the URL."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    url = (f"{sts_endpoint.rstrip('/')}/?"
           + urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"}))
    request = AWSRequest(method="GET", url=url, headers={CLUSTER_ID_HEADER: cluster})
    SigV4QueryAuth(credentials, "sts", region, expires=TOKEN_EXPIRES_SECONDS).add_auth(request)
    encoded = base64.urlsafe_b64encode(request.url.encode()).decode().rstrip("=")
    return TOKEN_PREFIX + encoded


class HttpKubeClient:
    """`KubeClient` over the Kubernetes REST API (urllib), each call with a bearer token.

    `server` is the API server's base URL; `ssl_context` trusts the cluster's CA (None
    only for a plain-HTTP test server)."""

    def __init__(self, server: str, token: TokenSource,
                 ssl_context: ssl.SSLContext | None = None,
                 timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        if not server.startswith(("https://", "http://")):
            raise PreconditionFailed(f"Kubernetes API server {server!r} is not an HTTP(S) URL")
        self.server = server.rstrip("/")
        self.token = token
        self.ssl_context = ssl_context
        self.timeout = timeout

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                content_type: str = "application/json") -> dict[str, Any]:
        loaded = json.loads(self.request_text(method, path, body, content_type) or "{}")
        return loaded if isinstance(loaded, dict) else {"items": loaded}

    def request_text(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                     content_type: str = "application/json") -> str:
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        # the scheme is http(s), checked in __init__
        request = urllib.request.Request(self.server + path, data=data,  # noqa: S310
                                         method=method)
        request.add_header("Authorization", f"Bearer {self.token()}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout,  # noqa: S310
                                        context=self.ssl_context) as response:
                return str(response.read().decode(errors="replace"))
        except urllib.error.HTTPError as err:
            raise _api_error(method, path, err.code, err.read()) from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise KubeApiError(0, "Unreachable", (
                f"Kubernetes API {self.server} did not answer {method} {path} ({err}); "
                "the cluster's endpoint must be reachable from here (a private-only "
                "endpoint needs a host in the VPC)")) from err

    @staticmethod
    def _ns(namespace: str) -> str:
        return quote(namespace, safe="")

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/namespaces/{self._ns(namespace)}/pods/"
                                   f"{quote(name, safe='')}")

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        query = urlencode({"labelSelector": label_selector})
        found = self.request("GET", f"/api/v1/namespaces/{self._ns(namespace)}/pods?{query}")
        return list(found.get("items") or [])

    def pod_log(self, namespace: str, name: str, container: str, limit_bytes: int) -> str:
        query = urlencode({"container": container, "limitBytes": limit_bytes,
                           "timestamps": "true"})
        return self.request_text("GET", f"/api/v1/namespaces/{self._ns(namespace)}/pods/"
                                        f"{quote(name, safe='')}/log?{query}")

    def label_pod(self, namespace: str, name: str,
                  labels: Mapping[str, str | None]) -> dict[str, Any]:
        return self.request("PATCH", f"/api/v1/namespaces/{self._ns(namespace)}/pods/"
                                     f"{quote(name, safe='')}",
                            {"metadata": {"labels": dict(labels)}},
                            "application/merge-patch+json")

    def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", f"{NETWORKING}/namespaces/{self._ns(namespace)}/"
                                       f"networkpolicies/{quote(name, safe='')}")
        except KubeApiError as err:
            if not_found(err):
                return None
            raise

    def list_network_policies(self, namespace: str) -> list[dict[str, Any]]:
        found = self.request("GET", f"{NETWORKING}/namespaces/{self._ns(namespace)}/"
                                    "networkpolicies")
        return list(found.get("items") or [])

    def create_network_policy(self, namespace: str,
                              body: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"{NETWORKING}/namespaces/{self._ns(namespace)}/"
                                    "networkpolicies", body)

    def delete_network_policy(self, namespace: str, name: str) -> None:
        self.request("DELETE", f"{NETWORKING}/namespaces/{self._ns(namespace)}/"
                               f"networkpolicies/{quote(name, safe='')}")

    def list_nodes(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v1/nodes").get("items") or [])

    def get_node(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/nodes/{quote(name, safe='')}")

    def set_unschedulable(self, name: str, unschedulable: bool) -> dict[str, Any]:
        return self.request("PATCH", f"/api/v1/nodes/{quote(name, safe='')}",
                            {"spec": {"unschedulable": unschedulable or None}},
                            "application/merge-patch+json")


def _api_error(method: str, path: str, status: int, raw: bytes) -> KubeApiError:
    """The API server's `Status` object (reason, message) as one readable error."""
    reason, message = "", raw.decode(errors="replace")[:300]
    try:
        doc = json.loads(raw)
        if isinstance(doc, dict):
            reason, message = str(doc.get("reason", "")), str(doc.get("message", message))
    except ValueError:
        pass
    hint = ""
    if status in (401, 403):
        hint = ("; the responder role needs an EKS access entry (or aws-auth mapping) bound "
                "to the ClusterRole the README lists (EKS: the responder's RBAC)")
    return KubeApiError(status, reason, f"Kubernetes API refused {method} {path}: "
                                        f"{status} {reason} {message}".rstrip() + hint)


def https_connector(cluster: ClusterEndpoint, token: TokenSource) -> KubeClient:
    """The real connector: HTTPS to the cluster's endpoint, trusting only its CA."""
    if not cluster.endpoint.startswith("https://"):
        raise PreconditionFailed(f"EKS cluster {cluster.name} names no HTTPS endpoint "
                                 f"({cluster.endpoint!r}); is it still being created?")
    try:
        pem = base64.b64decode(cluster.certificate_authority, validate=True).decode()
        context = ssl.create_default_context(cadata=pem)
    except (ValueError, ssl.SSLError) as err:
        raise PreconditionFailed(f"EKS cluster {cluster.name}'s certificate authority "
                                 f"cannot be read ({err})") from err
    return HttpKubeClient(cluster.endpoint, token, context)


_lock = threading.Lock()
_installed: list[Connector] = []


@contextmanager
def connector(use: Connector) -> Iterator[Connector]:
    """Within the block, `kube_client` connects with `use` instead of HTTPS: how tests
    and the drill put a Kubernetes fake at this interface (the AWS side, DescribeCluster,
    is still called)."""
    with _lock:
        _installed.append(use)
    try:
        yield use
    finally:
        with _lock:
            _installed.remove(use)


def active_connector() -> Connector:
    with _lock:
        return _installed[-1] if _installed else https_connector


def describe_cluster(ctx: Context, cluster: str) -> ClusterEndpoint:
    """The cluster as EKS describes it in the context's account and region; refuses one
    that does not exist or is not ACTIVE."""
    from botocore.exceptions import ClientError

    try:
        found = ctx.client("eks").describe_cluster(name=cluster)["cluster"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise PreconditionFailed(
                f"EKS cluster {cluster} does not exist in account {ctx.account_id} region "
                f"{ctx.region}; check the name (aws eks list-clusters) and --region") from err
        raise
    status = str(found.get("status", ""))
    if status != "ACTIVE":
        raise PreconditionFailed(f"EKS cluster {cluster} is {status or 'in no known state'}, "
                                 "not ACTIVE: its API server cannot be used now")
    return ClusterEndpoint(cluster, str(found.get("arn", "")), str(found.get("endpoint", "")),
                           str((found.get("certificateAuthority") or {}).get("data", "")))


def kube_client(ctx: Context, cluster: str) -> KubeClient:
    """A client of `cluster`'s API server, made once per run (the run cache)."""

    def connect() -> KubeClient:
        endpoint = describe_cluster(ctx, cluster)
        sts = ctx.client("sts")
        session = ctx.sessions.session()

        def token() -> str:
            credentials = session.get_credentials()
            if credentials is None:
                raise PreconditionFailed("no AWS credentials to sign the EKS token with")
            return eks_token(credentials.get_frozen_credentials(), sts.meta.endpoint_url,
                             sts.meta.region_name or ctx.region, cluster)

        return active_connector()(endpoint, token)

    return ctx.cache.get(f"kube:{cluster}", connect)
