"""The Kubernetes client behind `KubeClient`: the EKS bearer token, the REST requests it
builds (against a local plain-HTTP server that records them) and `kube_client`'s AWS
side (DescribeCluster against moto)."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.credentials import Credentials

from runbooks.core.errors import PreconditionFailed
from runbooks.core.kube import (
    ClusterEndpoint,
    HttpKubeClient,
    KubeApiError,
    connector,
    eks_token,
    https_connector,
    kube_client,
)

CREDENTIALS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def decode(token: str) -> urllib.parse.SplitResult:
    assert token.startswith("k8s-aws-v1.")
    encoded = token.removeprefix("k8s-aws-v1.")
    assert "=" not in encoded  # unpadded, as aws-iam-authenticator writes it
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    return urllib.parse.urlsplit(url)


def test_token_is_a_presigned_get_caller_identity_bound_to_the_cluster() -> None:
    token = eks_token(CREDENTIALS, "https://sts.eu-west-1.amazonaws.com", "eu-west-1",
                      "prod-eks")

    url = decode(token)
    query = dict(urllib.parse.parse_qsl(url.query))
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.eu-west-1.amazonaws.com", "/")
    assert query["Action"] == "GetCallerIdentity" and query["Version"] == "2011-06-15"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Credential"].startswith("AKIAIOSFODNN7EXAMPLE/")
    assert query["X-Amz-Credential"].endswith("/eu-west-1/sts/aws4_request")
    assert query["X-Amz-SignedHeaders"] == "host;x-k8s-aws-id"
    assert len(query["X-Amz-Signature"]) == 64
    # the secret never leaves the machine
    assert CREDENTIALS.secret_key not in token and CREDENTIALS.secret_key not in url.query


def test_token_for_another_cluster_has_another_signature() -> None:
    one = dict(urllib.parse.parse_qsl(decode(eks_token(
        CREDENTIALS, "https://sts.us-east-1.amazonaws.com", "us-east-1", "a")).query))
    two = dict(urllib.parse.parse_qsl(decode(eks_token(
        CREDENTIALS, "https://sts.us-east-1.amazonaws.com", "us-east-1", "b")).query))
    assert one["X-Amz-Signature"] != two["X-Amz-Signature"]


class Recorder(BaseHTTPRequestHandler):
    """Answers from `replies[(method, path without query)]`, recording each request."""

    replies: dict[tuple[str, str], tuple[int, Any]] = {}
    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urllib.parse.urlsplit(self.path)
        self.seen.append({"method": self.command, "path": split.path,
                          "query": dict(urllib.parse.parse_qsl(split.query)),
                          "headers": dict(self.headers),
                          "body": json.loads(body) if body else None})
        status, reply = self.replies.get((self.command, split.path), (404, {
            "kind": "Status", "reason": "NotFound", "message": "not found"}))
        data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[HttpKubeClient, type[Recorder]]]:
    class Handler(Recorder):
        replies: dict[tuple[str, str], tuple[int, Any]] = {}
        seen: list[dict[str, Any]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = HttpKubeClient(f"http://127.0.0.1:{server.server_address[1]}",
                                lambda: "k8s-aws-v1.token", None, timeout=5)
        yield client, Handler
    finally:
        server.shutdown()
        server.server_close()


def test_label_patch_is_a_merge_patch_with_the_bearer_token(api: Any) -> None:
    client, handler = api
    path = "/api/v1/namespaces/shop/pods/checkout-1"
    handler.replies[("PATCH", path)] = (200, {"metadata": {"name": "checkout-1"}})

    client.label_pod("shop", "checkout-1", {"ir-quarantine": "ir-1", "old": None})

    (request,) = handler.seen
    assert request["method"] == "PATCH" and request["path"] == path
    assert request["headers"]["Content-Type"] == "application/merge-patch+json"
    assert request["headers"]["Authorization"] == "Bearer k8s-aws-v1.token"
    assert request["body"] == {"metadata": {"labels": {"ir-quarantine": "ir-1", "old": None}}}


def test_network_policy_calls(api: Any) -> None:
    client, handler = api
    base = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies"
    handler.replies[("POST", base)] = (201, {"metadata": {"name": "p"}})
    handler.replies[("GET", base)] = (200, {"items": [{"metadata": {"name": "p"}}]})
    handler.replies[("DELETE", f"{base}/p")] = (200, {"kind": "Status"})
    body = {"metadata": {"name": "p"}, "spec": {"podSelector": {}}}

    client.create_network_policy("shop", body)
    assert client.get_network_policy("shop", "missing") is None  # 404 -> None
    assert [p["metadata"]["name"] for p in client.list_network_policies("shop")] == ["p"]
    client.delete_network_policy("shop", "p")

    assert [(r["method"], r["path"]) for r in handler.seen] == [
        ("POST", base), ("GET", f"{base}/missing"), ("GET", base), ("DELETE", f"{base}/p")]
    assert handler.seen[0]["body"] == body


def test_list_pods_sends_the_label_selector_and_logs_come_back_as_text(api: Any) -> None:
    client, handler = api
    handler.replies[("GET", "/api/v1/namespaces/shop/pods")] = (200, {"items": []})
    handler.replies[("GET", "/api/v1/namespaces/shop/pods/p/log")] = (200, "line 1\nline 2\n")

    assert client.list_pods("shop", "ir-quarantine=ir-1") == []
    assert client.pod_log("shop", "p", "app", 1024) == "line 1\nline 2\n"

    assert handler.seen[0]["query"] == {"labelSelector": "ir-quarantine=ir-1"}
    assert handler.seen[1]["query"]["container"] == "app"
    assert handler.seen[1]["query"]["limitBytes"] == "1024"


def test_cordon_and_uncordon(api: Any) -> None:
    client, handler = api
    handler.replies[("PATCH", "/api/v1/nodes/n1")] = (200, {"metadata": {"name": "n1"}})

    client.set_unschedulable("n1", True)
    client.set_unschedulable("n1", False)

    assert [r["body"] for r in handler.seen] == [{"spec": {"unschedulable": True}},
                                                 {"spec": {"unschedulable": None}}]


def test_forbidden_names_the_rbac_the_responder_needs(api: Any) -> None:
    client, handler = api
    handler.replies[("GET", "/api/v1/nodes")] = (403, {
        "kind": "Status", "reason": "Forbidden",
        "message": 'nodes is forbidden: User "responder" cannot list resource "nodes"'})

    with pytest.raises(KubeApiError) as caught:
        client.list_nodes()

    assert caught.value.status == 403 and caught.value.reason == "Forbidden"
    assert "cannot list resource" in str(caught.value) and "access entry" in str(caught.value)
    assert "k8s-aws-v1.token" not in str(caught.value)  # the token is never in an error


def test_an_unreachable_api_server_is_an_action_failure() -> None:
    client = HttpKubeClient("http://127.0.0.1:9", lambda: "t", None, timeout=2)
    with pytest.raises(KubeApiError) as caught:
        client.get_pod("shop", "p")
    assert caught.value.status == 0 and "did not answer" in str(caught.value)


def test_https_connector_refuses_a_cluster_without_https_or_a_readable_ca() -> None:
    with pytest.raises(PreconditionFailed, match="no HTTPS endpoint"):
        https_connector(ClusterEndpoint("c", "arn", "", "x"), lambda: "t")
    with pytest.raises(PreconditionFailed, match="certificate authority"):
        https_connector(ClusterEndpoint("c", "arn", "https://x.eks.amazonaws.com",
                                        base64.b64encode(b"not a pem").decode()),
                        lambda: "t")


def _cluster(readiness: Any, name: str) -> dict[str, Any]:
    eks = readiness.client("eks")
    created: dict[str, Any] = eks.create_cluster(
        name=name, roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": [readiness.subnet_id]})["cluster"]
    return created


def test_kube_client_describes_the_cluster_and_signs_a_token(readiness: Any) -> None:
    described = _cluster(readiness, "prod-eks")
    seen: list[tuple[ClusterEndpoint, str]] = []

    def fake(cluster: ClusterEndpoint, token: Any) -> Any:
        seen.append((cluster, token()))
        return object()

    ctx = readiness.context()
    with connector(fake):
        first = kube_client(ctx, "prod-eks")
        assert kube_client(ctx, "prod-eks") is first  # once per run

    ((cluster, token),) = seen
    assert cluster.name == "prod-eks" and cluster.arn == described["arn"]
    assert cluster.endpoint == described["endpoint"]
    assert cluster.certificate_authority == described["certificateAuthority"]["data"]
    assert dict(urllib.parse.parse_qsl(decode(token).query))["Action"] == "GetCallerIdentity"


def test_kube_client_refuses_a_cluster_that_does_not_exist(readiness: Any) -> None:
    with connector(lambda c, t: pytest.fail("no connection without a cluster")):
        with pytest.raises(PreconditionFailed, match="EKS cluster nope does not exist"):
            kube_client(readiness.context(), "nope")
