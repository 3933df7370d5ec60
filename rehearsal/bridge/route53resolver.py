"""Bridge handlers for Route 53 Resolver query logging.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:route53/resolverQueryLogConfig:...                API route53resolver
                                                       CreateResolverQueryLogConfig
aws:route53/resolverQueryLogConfigAssociation:...     API route53resolver
                                                       AssociateResolverQueryLogConfig
=====================================================  ========================================
"""

from __future__ import annotations

import uuid
from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    tag_list,
)


@handles("aws:route53/resolverQueryLogConfig:ResolverQueryLogConfig",
         api="route53resolver:CreateResolverQueryLogConfig")
def _resolver_query_log_config(r: Request) -> tuple[str, dict[str, Any]]:
    config = r.client("route53resolver").create_resolver_query_log_config(**clean({
        "Name": r.autoname(max_len=64),
        "DestinationArn": r.get("destinationArn"),
        "CreatorRequestId": uuid.uuid4().hex,
        "Tags": tag_list(r.get("tags")) or None,
    }))["ResolverQueryLogConfig"]
    return str(config["Id"]), {"arn": config["Arn"], "name": config["Name"]}


@handles("aws:route53/resolverQueryLogConfigAssociation:ResolverQueryLogConfigAssociation",
         api="route53resolver:AssociateResolverQueryLogConfig")
def _resolver_query_log_association(r: Request) -> tuple[str, dict[str, Any]]:
    association = r.client("route53resolver").associate_resolver_query_log_config(
        ResolverQueryLogConfigId=r.get("resolverQueryLogConfigId"),
        ResourceId=r.get("resourceId"),
    )["ResolverQueryLogConfigAssociation"]
    return str(association["Id"]), {}
