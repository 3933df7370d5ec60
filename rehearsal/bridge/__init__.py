"""Pulumi mocks -> moto bridge: provision the readiness program into an emulator.

`MotoBridge` is a `pulumi.runtime.Mocks` whose `new_resource` creates every `aws:*`
resource the program declares *for real* in a moto server (boto3 with `endpoint_url`)
and hands back the real ids and ARNs as the resource's outputs, and whose `call` answers
the program's invokes from the same server. The program itself runs unmodified under
the project's one mock harness (`components.mockrun.evaluate(config, mocks=bridge)`:
Pulumi's official mocks, `preview=False`), so what lands in the emulator is exactly what
the program declared: the drill then acts on the same security groups, topics, detector
and vault a real `pulumi up` would have made.

Every type is handled consciously. A custom resource whose type is not in `HANDLERS`
raises `UnhandledResourceType` naming the type: never a silent pass. Where moto lacks an
API, the emulator (`rehearsal.emulator`) serves it, so every type of the example stacks
is created for real. A type nothing can create may still be registered "recorded only"
(`recorded_only=`): the bridge keeps its inputs in `MotoBridge.records` and the drill
report lists it as declared but not emulated (no type of the example stacks is).
An invoke not in `INVOKES` raises `UnhandledInvoke`.

Regions: an explicit `aws.Provider` carries a `region` input; resources reference it
through `args.provider` (`<urn>::<id>`); a v7 per-resource `region` input wins over
the provider; resources on the default provider use `default_region`. Accounts: a
provider with `assumeRoles` assumes them through the emulator's STS when it is
registered, and its resources are created with those credentials, in that account
(invokes still answer with the bridge's own credentials).

One module per AWS service (`kms`, `s3`, `cloudtrail`, `logs`, `cloudwatch`, `events`,
`ec2`, `config`, `route53resolver`, `accessanalyzer`, `guardduty`, `inspector2`,
`securityhub`, `shield`, `iam`, `backup`, `sns`, `sqs`, `ssm`, `lambda_`, and `index` for the
provider-level invokes): each registers the types it provisions with `@handles` (its
docstring lists them and the moto API each is created with) and the invokes it answers
with `@answers`. Every module of this package is loaded here, so covering a new type is
one edit in its service's module, or one new module for a new service.
"""

from __future__ import annotations

import importlib
import pkgutil

from rehearsal.bridge._core import (
    HANDLERS,
    INVOKES,
    PROVIDER_TYPE,
    BridgeError,
    MotoBridge,
    Record,
    Request,
    TypeHandler,
    UnhandledInvoke,
    UnhandledResourceType,
    answers,
    handles,
)

__all__ = [
    "HANDLERS",
    "INVOKES",
    "PROVIDER_TYPE",
    "BridgeError",
    "MotoBridge",
    "Record",
    "Request",
    "TypeHandler",
    "UnhandledInvoke",
    "UnhandledResourceType",
    "answers",
    "handles",
]

# The service modules register their handlers and invokes when imported.
for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
